import type { Kysely } from "kysely";
import superjson from "superjson";
import type { Database } from "../../db/schema.js";
import { escapeDataKeys, holdsReservedKeys, unescapeDataKeys } from "../../shared/transformer.js";
import { badItem } from "../errors.js";
import { assertJsonTextDepth } from "../limits/json-depth.js";
import { getPacket, missingPackets } from "./store.js";

/** A payload or output as stored: serialized text plus the type that says how to read it. */
export interface Packet {
  data: string | null;
  type: string;
}

/** The type of a packet whose data is the path of an uploaded packet (see server/packets/). */
export const STORE_TYPE = "application/store";

/**
 * Normalizes what a client sent. The SDK sends payloads already serialized (a string) with
 * `options.payloadType`, stored as sent. Other callers send a value: plain JSON from a REST
 * caller, but from a tRPC caller (superjson transport) possibly Dates, Maps, BigInts..., which
 * only SuperJSON keeps, so such a value is stored as `application/super+json`.
 */
export function packetFromInput(payload: unknown, payloadType: string | undefined): Packet {
  if (payload === undefined) return { data: null, type: payloadType ?? "application/json" };
  if (typeof payload === "string" && payloadType) {
    if (payloadType === "application/json" || payloadType === "application/super+json")
      assertJsonTextDepth(payload, "The payload");
    return { data: payload, type: payloadType };
  }
  // Values from the tRPC router arrive deserialized by superjson and may hold Dates, Maps, Sets,
  // BigInts...: plain JSON would flatten them, so those are kept as superjson. Anything JSON can
  // carry (every REST payload) stays plain JSON; checking that first skips SuperJSON's walk, which
  // was a twentieth of the server's time while streaming items.
  if (isPlainJson(payload, 0)) return { data: JSON.stringify(payload), type: "application/json" };
  // SuperJSON cannot write a key named `__proto__`, `constructor` or `prototype`: such a value is
  // kept in its plain JSON form (Dates as ISO text...), as the SDK would send it.
  if (holdsReservedKeys(payload)) return { data: JSON.stringify(toJsonForm(payload).json), type: "application/json" };
  const serialized = superjson.serialize(payload);
  if (serialized.meta !== undefined) return { data: JSON.stringify(serialized), type: "application/super+json" };
  return { data: JSON.stringify(payload), type: "application/json" };
}

/**
 * A value as `application/super+json` text (outputs). A value holding a key SuperJSON refuses
 * is written as its plain JSON form, which is SuperJSON without annotations.
 */
export function superJsonText(value: unknown): string {
  return holdsReservedKeys(value) ? JSON.stringify({ json: toJsonForm(value).json }) : superjson.stringify(value);
}

/** Deeper than this, the SuperJSON path decides (and a cycle cannot recurse forever here). */
const MAX_PLAIN_DEPTH = 64;

/**
 * True when JSON.stringify would write the value back exactly: null, strings, booleans, finite
 * numbers, and arrays and plain objects of those. Anything else (Date, Map, undefined, NaN...)
 * is for SuperJSON.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth >= MAX_PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        for (const element of value) if (!isPlainJson(element, depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * Decodes a stored packet into the value it carries, as the SDK's own `parsePacket` does; text
 * that is not what its type says stays text. A store reference stays the path: use
 * `resolvePacket` to follow it.
 */
export function decodePacket(packet: Packet): unknown {
  if (packet.data === null) return undefined;
  try {
    switch (packet.type) {
      case "application/json":
        return JSON.parse(packet.data);
      case "application/super+json":
        return superjson.parse(packet.data);
      default:
        return packet.data;
    }
  } catch {
    return packet.data;
  }
}

/**
 * Follows a store reference to the text it names; the type becomes the one the upload declared
 * (its Content-Type). Any other packet is returned as it is.
 */
export async function loadPacket(db: Kysely<Database>, environmentId: string, packet: Packet): Promise<Packet> {
  if (packet.type !== STORE_TYPE || packet.data === null) return packet;
  const stored = await getPacket(db, environmentId, packet.data);
  if (!stored) throw new Error(`Stored packet "${packet.data}" of environment ${environmentId} is missing`);
  return { data: stored.data.toString("utf8"), type: stored.contentType };
}

/**
 * The value a run's payload (or output) carries, offloaded or not: what a worker executes with.
 * `packet` is the run row's `payload`/`payload_type` (or `output`/`output_type`).
 */
export async function resolvePacket(db: Kysely<Database>, environmentId: string, packet: Packet): Promise<unknown> {
  return decodePacket(await loadPacket(db, environmentId, packet));
}

/**
 * Refuses, before anything is written, items whose payload refers to a packet that was never
 * uploaded to this environment: such a run could never execute. `items[i]` is the i-th item of
 * the request, so the error can name it.
 */
export async function assertStoredPacketsExist(
  db: Kysely<Database>,
  environmentId: string,
  items: { payload?: unknown; options?: { payloadType?: string } }[],
): Promise<void> {
  const refs: { position: number; path: string }[] = [];
  items.forEach((item, position) => {
    if (item.options?.payloadType !== STORE_TYPE) return;
    if (typeof item.payload !== "string" || item.payload === "") {
      throw badItem(
        position,
        `payload must be the storagePath of an uploaded packet when payloadType is ${STORE_TYPE}`,
      );
    }
    refs.push({ position, path: item.payload });
  });
  if (refs.length === 0) return;
  const missing = new Set(
    await missingPackets(
      db,
      environmentId,
      refs.map((r) => r.path),
    ),
  );
  const first = refs.find((r) => missing.has(r.path));
  if (first) {
    throw badItem(
      first.position,
      `payload refers to packet "${first.path}", which was not uploaded to this environment (PUT /api/v2/packets/{path}, then PUT the bytes to the presignedUrl)`,
    );
  }
}

/**
 * A decoded value in plain JSON, for REST answers: SuperJSON's `json` part (Dates as ISO text,
 * Maps as entry lists, BigInts as text). `exact` is false when that lost type information, i.e.
 * only a SuperJSON reader can get the original value back.
 */
export function toJsonForm(value: unknown): { json: unknown; exact: boolean } {
  // Through the wire's key escaping: SuperJSON refuses keys such as `constructor` (see shared/transformer.ts).
  const { json, meta } = superjson.serialize(escapeDataKeys(value));
  return { json: unescapeDataKeys(json), exact: meta === undefined };
}
