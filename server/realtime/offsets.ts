import { createHash } from "node:crypto";
import type { Position } from "../events/position.js";

/**
 * Where a subscriber is in a shape's log, as the opaque `offset` of Electric's protocol:
 * - `-1`: nothing yet (the first request reads the current rows);
 * - `<tx>_<id>`: up to date as of that event position (live requests continue from it);
 * - `<tx>_<id>_<cursor>`: part-way through the initial rows, read as of that position.
 * `now` asks for no rows, only changes from now on.
 */
export type ShapeOffset =
  | { kind: "initial" }
  | { kind: "now" }
  | { kind: "live"; position: Position }
  | { kind: "snapshot"; position: Position; cursor: string };

export function parseOffset(text: string): ShapeOffset | undefined {
  if (text === "-1") return { kind: "initial" };
  if (text === "now") return { kind: "now" };
  const m = /^(\d{1,20})_(\d{1,20})(?:_(.{1,64}))?$/.exec(text);
  if (!m) return undefined;
  const position = { tx: BigInt(m[1]!), id: BigInt(m[2]!) };
  if (position.tx >= 2n ** 64n || position.id >= 2n ** 63n) return undefined;
  return m[3] === undefined ? { kind: "live", position } : { kind: "snapshot", position, cursor: m[3] };
}

export const liveOffset = (p: Position) => `${p.tx}_${p.id}`;
export const snapshotOffset = (p: Position, cursor: string) => `${p.tx}_${p.id}_${cursor}`;

/**
 * A shape's handle: which shape (a digest of its environment and definition) and when its
 * initial rows were read. A handle of another shape is stale, and so is one older than the event
 * retention: the changes since it may have been pruned, so the subscriber must read the rows again.
 */
export function makeHandle(environmentId: string, shapeKey: string, snapshotAt: Date): string {
  return `${shapeDigest(environmentId, shapeKey)}-${snapshotAt.getTime()}`;
}

const shapeDigest = (environmentId: string, shapeKey: string) =>
  createHash("sha256").update(`${environmentId}\n${shapeKey}`).digest("hex").slice(0, 16);

/** When the handle's initial rows were read, or undefined when the handle is not this shape's. */
export function handleTime(handle: string, environmentId: string, shapeKey: string): Date | undefined {
  const m = /^([0-9a-f]{16})-(\d{1,15})$/.exec(handle);
  if (!m || m[1] !== shapeDigest(environmentId, shapeKey)) return undefined;
  return new Date(Number(m[2]));
}

/**
 * Electric's `electric-cursor`: a number that changes every 20 s, so caches in between never
 * answer two live requests with one response; never the cursor the client sent.
 */
export function liveCursor(sent: string | undefined): string {
  const cursor = Math.floor(Date.now() / 20_000);
  return String(sent === String(cursor) ? cursor + 1 : cursor);
}
