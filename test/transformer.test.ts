import superjson from "superjson";
import { describe, expect, it } from "vitest";
import { dataTransformer } from "../shared/transformer.js";

/**
 * shared/transformer.ts reads Dates-only annotations itself (the live messages' shape) and leaves
 * everything else to SuperJSON: either way a value must come back as SuperJSON would give it.
 */

const roundTrip = (value: unknown) =>
  dataTransformer.deserialize(JSON.parse(JSON.stringify(dataTransformer.serialize(value))));
const bySuperJson = (wire: unknown) => superjson.deserialize(structuredClone(wire) as never);

describe("dataTransformer", () => {
  it("reads back Dates at any depth, in arrays and under keys with dots, as SuperJSON wrote them", () => {
    const at = new Date("2026-11-28T12:00:00.000Z");
    const values = [
      {
        kind: "events",
        events: [
          { id: "1:2", createdAt: at },
          { id: "1:3", createdAt: at },
        ],
        batch: { updatedAt: at },
      },
      { "a.b": { "c.d": at }, "e\\f": at, list: [[at]], n: 1 },
      { when: at, map: new Map([["k", at]]), set: new Set([at]), big: 10n },
      at,
      [at, { at }],
      { plain: "no annotations", nested: { constructor: "data", __proto__x: 1 } },
      { nested: { constructor: at, "~prototype": at } },
    ];
    for (const value of values) {
      expect(roundTrip(value)).toEqual(value);
      expect(dataTransformer.parse(JSON.stringify(dataTransformer.serialize(value)))).toEqual(value);
    }
  });

  it("parse unescapes keys however the text spells the ~ (literally or as a \\u escape)", () => {
    for (const text of [
      '{"json":{"a":{"~constructor":1,"~~prototype":2}}}',
      '{"json":{"a":{"\\u007econstructor":1,"\\u007E\\u007eprototype":2}}}',
    ]) {
      const expected = dataTransformer.deserialize(JSON.parse(text));
      expect(expected).toEqual({ a: { constructor: 1, "~prototype": 2 } });
      expect(dataTransformer.parse(text)).toEqual(expected);
    }
  });

  it("answers a Dates-only wire form through odd paths as SuperJSON does", () => {
    const wires = [
      { json: { a: "x" }, meta: { values: { "a.b": ["Date"] }, v: 1 } },
      { json: { a: null }, meta: { values: { "a.b": ["Date"] }, v: 1 } },
      { json: { a: {} }, meta: { values: { "a.b.c": ["Date"] }, v: 1 } },
      { json: { a: "2026-01-01T00:00:00.000Z" }, meta: { values: { a: ["Date"], "a.b": ["Date"] }, v: 1 } },
      { json: { a: [1, "2026-01-01T00:00:00.000Z"] }, meta: { values: { "a.1": ["Date"], missing: ["Date"] }, v: 1 } },
    ];
    for (const wire of wires) {
      let expected: unknown;
      let expectedError: unknown;
      try {
        expected = bySuperJson(wire);
      } catch (error) {
        expectedError = error;
      }
      if (expectedError) expect(() => dataTransformer.deserialize(structuredClone(wire))).toThrow();
      else expect(dataTransformer.deserialize(structuredClone(wire))).toEqual(expected);
    }
  });
});
