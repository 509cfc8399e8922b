import superjson from "superjson";

/** A payload or output as stored: serialized text plus the type that says how to read it. */
export interface Packet {
  data: string | null;
  type: string;
}

/**
 * Normalizes what a client sent. The SDK sends payloads already serialized (a string) with
 * `options.payloadType`; plain REST callers send a JSON value and no type.
 */
export function packetFromInput(payload: unknown, payloadType: string | undefined): Packet {
  if (payload === undefined) return { data: null, type: payloadType ?? "application/json" };
  if (typeof payload === "string" && payloadType) return { data: payload, type: payloadType };
  // Values from the tRPC router arrive deserialized by superjson and may hold Dates, Maps, Sets,
  // BigInts...: plain JSON would flatten them, so those are kept as superjson. Anything that JSON
  // can carry (every REST payload) stays plain JSON.
  const { json, meta } = superjson.serialize(payload);
  if (meta !== undefined) return { data: JSON.stringify({ json, meta }), type: "application/super+json" };
  return { data: JSON.stringify(payload), type: "application/json" };
}

/** Decodes a stored packet into the value it carries; text that is not what its type says stays text. */
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
