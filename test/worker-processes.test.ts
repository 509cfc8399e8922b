import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, createWorker } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "salvo-workers-"));

beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_LEASE_MS: "1500", SALVO_RETRY_BASE_MS: "20", SALVO_SWEEP_INTERVAL_MS: "50" });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await salvo?.close();
});

/** `salvo worker test/fixtures/recording-tasks.ts` as its own process, recording into `file`. */
function spawnWorker(file: string): ChildProcess {
  const child = spawn(process.execPath, ["bin/salvo.js", "worker", "test/fixtures/recording-tasks.ts"], {
    env: {
      ...process.env,
      SALVO_URL: salvo.url,
      SALVO_API_KEY: salvo.key,
      SALVO_WORKER_CONCURRENCY: "20",
      RECORD_FILE: file,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  return child;
}

const records = (file: string) =>
  readFileSync(file, { encoding: "utf8", flag: "a+" })
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ") as [string, string]);

describe("worker processes", () => {
  it("two worker processes execute every run of a 1,000-item batch exactly once", async () => {
    const files = [join(dir, "a.log"), join(dir, "b.log")];
    const procs = files.map(spawnWorker);
    const { batchId } = await client.batch.trigger.mutate({
      items: Array.from({ length: 1000 }, (_, i) => ({ task: "record", payload: { i } })),
    });
    await waitFor(
      async () => ((await client.batch.get.query({ batchId })).status === "COMPLETED" ? true : undefined),
      60_000,
    );

    const executed = files.flatMap(records).map(([runId]) => runId);
    const { runs } = await client.batch.get.query({ batchId });
    expect(executed).toHaveLength(1000);
    expect(new Set(executed)).toEqual(new Set(runs));
    // Stopped and gone before the next test, so they cannot take its runs.
    await Promise.all(
      procs.map((p) => {
        const exited = new Promise((resolve) => p.once("exit", resolve));
        p.kill("SIGTERM");
        return exited;
      }),
    );
  });

  it("retries the run of a worker killed mid-run once its lease expires", async () => {
    const file = join(dir, "killed.log");
    const doomed = spawnWorker(file);
    const { id } = await client.task.trigger.mutate({ task: "hang", options: { maxAttempts: 3 } });
    await waitFor(() => (records(file).length > 0 ? true : undefined), 20_000, "the first attempt to start");
    doomed.kill("SIGKILL");

    const attempts: number[] = [];
    const rescuer = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      tasks: { hang: async (_: unknown, ctx) => void attempts.push(ctx.run.attempt) },
      pollWaitMs: 1000,
    });
    const run = await waitFor(
      async () => {
        const r = await client.run.get.query({ runId: id });
        return r.status === "COMPLETED" ? r : undefined;
      },
      20_000,
      "the retried run to complete",
    );
    await rescuer.stop();
    expect(records(file)).toEqual([[id, "1"]]);
    expect(attempts).toEqual([2]);
    expect(run.attemptCount).toBe(2);
  });
});
