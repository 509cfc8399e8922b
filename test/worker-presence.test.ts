import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, createWorker, type Worker } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

// A worker holds a presence stream open: when its process dies the server sees the stream close
// and its runs come back within seconds, long before the 30 s lease. The lease here is the
// default (30 s): every recovery below is the presence rule's doing.
let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
const children: ChildProcess[] = [];
const workers: Worker[] = [];
const dir = mkdtempSync(join(tmpdir(), "salvo-presence-"));

beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_WORKER_DISCONNECT_GRACE_MS: "1000" });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(workers.map((w) => w.stop({ graceMs: 0 })));
  await salvo?.close();
});

/** Each test in an environment of its own: no worker of another test can take its runs. */
async function environment() {
  const { secretKey } = await salvo.newEnvironment();
  return { key: secretKey, client: createSalvoClient({ url: salvo.url, apiKey: secretKey }) };
}

function spawnWorker(file: string, key = salvo.key): ChildProcess {
  const child = spawn(process.execPath, ["bin/salvo.js", "worker", "test/fixtures/recording-tasks.ts"], {
    env: {
      ...process.env,
      SALVO_URL: salvo.url,
      SALVO_API_KEY: key,
      SALVO_WORKER_CONCURRENCY: "5",
      RECORD_FILE: file,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  child.stderr!.on("data", (d) => process.stderr.write(`[worker ${child.pid}] ${d}`));
  child.stdout!.on("data", (d) => process.stderr.write(`[worker ${child.pid}] ${d}`));
  return child;
}
const records = (file: string) =>
  readFileSync(file, { encoding: "utf8", flag: "a+" })
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ") as [string, string]);
const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
const finalRun = (runId: string, reader = client) =>
  waitFor(
    async () => {
      const run = await reader.run.get.query({ runId });
      return ["COMPLETED", "FAILED"].includes(run.status) ? run : undefined;
    },
    40_000,
    `run ${runId} to finish`,
  );

describe("worker presence", () => {
  it("a killed worker's run is executed again within 5 s, as its next attempt", async () => {
    const file = join(dir, "killed.log");
    const doomed = spawnWorker(file);
    const { id } = await client.task.trigger.mutate({ task: "hang", options: { maxAttempts: 3 } });
    await waitFor(() => (records(file).length > 0 ? true : undefined), 30_000, "the first attempt to start");

    const attempts: number[] = [];
    const rescuer = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      tasks: { hang: async (_: unknown, ctx) => void attempts.push(ctx.run.attempt) },
      pollWaitMs: 1000,
    });
    workers.push(rescuer);
    await rescuer.ready;
    await killed(doomed);
    const killedAt = Date.now();
    const run = await finalRun(id);
    const recoveryMs = Date.now() - killedAt;
    await rescuer.stop();

    expect(run.status).toBe("COMPLETED");
    // Well under the 30 s lease, which is what would recover it without the presence rule.
    expect(recoveryMs).toBeLessThan(15_000);
    // A crash uses an attempt, as a handler that threw does.
    expect(records(file)).toEqual([[id, "1"]]);
    expect(attempts).toEqual([2]);
    expect(run.attemptCount).toBe(2);
  });

  it("a run whose worker died on its last attempt fails, naming the disconnect", async () => {
    const file = join(dir, "last.log");
    const { key, client } = await environment();
    const doomed = spawnWorker(file, key);
    const { id } = await client.task.trigger.mutate({ task: "hang", options: { maxAttempts: 1 } });
    await waitFor(() => (records(file).length > 0 ? true : undefined), 30_000, "the attempt to start");
    await killed(doomed);
    const run = await finalRun(id, client);
    expect(run.status).toBe("FAILED");
    expect(run.attemptCount).toBe(1);
    expect(run.error).toMatchObject({ name: "WorkerDisconnected" });
  });

  it("a live worker whose handler keeps its event loop busy far longer than the grace keeps its run", async () => {
    const file = join(dir, "busy.log");
    const { key, client } = await environment();
    const busy = spawnWorker(file, key);
    const { id } = await client.task.trigger.mutate({
      task: "block",
      payload: { ms: 4000 },
      options: { maxAttempts: 3 },
    });
    await waitFor(() => (records(file).length > 0 ? true : undefined), 30_000, "the handler to start");
    // Now a second worker stands by: it would get the run if it were (wrongly) given back.
    const stolen: string[] = [];
    const spare = createWorker({
      url: salvo.url,
      apiKey: key,
      tasks: { block: async (_: unknown, ctx) => void stolen.push(ctx.run.id) },
      pollWaitMs: 500,
    });
    workers.push(spare);
    const run = await finalRun(id, client);
    expect(run.status).toBe("COMPLETED");
    // Blocked 4 s (4× the grace, no heartbeat meanwhile), and never taken from it.
    expect(records(file)).toEqual([
      [id, "1"],
      [id, "done"],
    ]);
    expect(stolen).toEqual([]);
    expect(run.attemptCount).toBe(1);
    busy.kill("SIGTERM");
  });
});
