import { describe, expect, it } from "vitest";
import { decodePacket, packetFromInput } from "../server/packets/codec.js";

describe("packetFromInput", () => {
  it("stores plain JSON values as application/json", () => {
    const value = { a: [1, "two", true, null, { b: -1.5 }], c: {} };
    const packet = packetFromInput(value, undefined);
    expect(packet).toEqual({ data: JSON.stringify(value), type: "application/json" });
    expect(decodePacket(packet)).toEqual(value);
  });

  it.each([
    ["a Date", { at: new Date("2026-01-02T03:04:05.000Z") }],
    ["a Map", { m: new Map([["k", 1]]) }],
    ["an undefined field", { a: 1, b: undefined }],
    ["NaN", [1, Number.NaN]],
    ["a BigInt", { n: 10n }],
  ])("keeps %s exactly through SuperJSON", (_name, value) => {
    const packet = packetFromInput(value, undefined);
    expect(packet.type).toBe("application/super+json");
    expect(decodePacket(packet)).toEqual(value);
  });

  it("stores what the SDK serialized as sent", () => {
    expect(packetFromInput('{"json":1}', "application/super+json")).toEqual({
      data: '{"json":1}',
      type: "application/super+json",
    });
  });
});
