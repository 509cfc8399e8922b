import type { Kysely } from "kysely";
import superjson from "superjson";
import type { Database } from "../../db/schema.js";
import { badItem } from "../errors.js";
import { getPacket, missingPackets } from "../packets/store.js";

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
  if (typeof payload === "string" && payloadType) return { data: payload, type: payloadType };
  try {
    const serialized = superjson.serialize(payload);
    if (serialized.meta !== undefined) return { data: JSON.stringify(serialized), type: "application/super+json" };
  } catch {
    // Not something SuperJSON can write (the SDK then sends it raw as application/json too).
  }
  return { data: JSON.stringify(payload), type: "application/json" };
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
      throw badItem(position, `payload must be the storagePath of an uploaded packet when payloadType is ${STORE_TYPE}`);
    }
    refs.push({ position, path: item.payload });
  });
  if (refs.length === 0) return;
  const missing = new Set(await missingPackets(db, environmentId, refs.map((r) => r.path)));
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
  const { json, meta } = superjson.serialize(value);
  return { json, exact: meta === undefined };
}
