import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { ProgressLine } from "../client/commands/progress.js";

/** A piped stderr: collects the lines the progress line prints. */
function pipe() {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, out: Object.assign(out, { isTTY: false }) as unknown as NodeJS.WriteStream };
}

describe("ProgressLine, piped", () => {
  it("throttles lines but prints the last state once the interval is over", async () => {
    const { lines, out } = pipe();
    const bar = new ProgressLine(out, 200);
    bar.update(0, 3, "PENDING");
    bar.update(0, 3, "PENDING · no worker for stray"); // too soon: held back, not lost
    bar.update(0, 3, "PENDING · no worker for stray");
    expect(lines).toEqual(["[------------------------------] 0/3 PENDING"]);
    await sleep(600);
    expect(lines).toEqual([
      "[------------------------------] 0/3 PENDING",
      "[------------------------------] 0/3 PENDING · no worker for stray",
    ]);
  });

  it("prints the final state at once and drops a held-back older one", async () => {
    const { lines, out } = pipe();
    const bar = new ProgressLine(out, 200);
    bar.update(1, 2, "PENDING");
    bar.update(1, 2, "PENDING · no worker for stray");
    bar.update(2, 2, "COMPLETED", true);
    await sleep(600);
    expect(lines).toEqual([
      "[###############---------------] 1/2 PENDING",
      "[##############################] 2/2 COMPLETED",
    ]);
  });
});
