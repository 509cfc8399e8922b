import { describe, expect, it } from "vitest";
import { friendlyId, isFriendlyId } from "../shared/ids.js";

describe("friendly ids", () => {
  it("are well-formed and unique", () => {
    const ids = Array.from({ length: 10_000 }, () => friendlyId("run"));
    for (const id of ids.slice(0, 100)) expect(isFriendlyId(id, "run")).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("sort by creation time, so bulk inserts append to id indexes", async () => {
    const earlier = Array.from({ length: 100 }, () => friendlyId("batch"));
    await new Promise((r) => setTimeout(r, 5));
    const later = Array.from({ length: 100 }, () => friendlyId("batch"));
    const maxEarlier = [...earlier].sort().at(-1)!;
    const minLater = [...later].sort()[0]!;
    expect(maxEarlier < minLater).toBe(true);
    // The same order under the database's collation is what matters; ASCII order is what the
    // alphabet guarantees, checked here as a byte comparison.
    expect(Buffer.compare(Buffer.from(maxEarlier), Buffer.from(minLater))).toBe(-1);
  });
});
