import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSalvoClient, watchBatch } from "../client/index.js";
import { type Started, spawnBuilt, waitForOutput } from "./support/built-server.js";
import { freePort } from "./support/private-services.js";

// A worker and a batch watcher as a new user runs them (`salvo worker`, `salvo batch watch`, the
// built CLI) against a built server process: a worker started before its server, runs of a task
// no worker serves, and the server going away under a worker.
const dir = mkdtempSync(join(tmpdir(), "salvo-hour-"));
const started: Started[] = [];
afterAll(() => {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});
const track = (s: Started) => {
  started.push(s);
  return s;
};

// The worker's module lives in the caller's directory and is TypeScript: `salvo worker tasks.ts`
// run there must find it there (not in the package's directory) and load it without a build step.
writeFileSync(
  join(dir, "tasks.ts"),
  `import type { TaskContext } from "salvo/client";
export const tasks = {
  orphan: async (payload: { n: number }, ctx: TaskContext) => ({ n: payload.n, attempt: ctx.run.attempt }),
};
`,
);

const lines = (text: string, pattern: RegExp) => text.split("\n").filter((line) => pattern.test(line));

describe("the first hour of a worker", () => {
  it("waits for its server in one line, names unserved runs in the watch, the progress and the log, then serves them", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const key = `tr_dev_${randomBytes(12).toString("hex")}`;
    const cli = (args: string[]) =>
      track(
        spawnBuilt(process.execPath, [join(import.meta.dirname, "..", "bin", "salvo.js"), ...args], {
          SALVO_URL: url,
          SALVO_API_KEY: key,
        }),
      );

    // The worker first: nothing listens yet. Its module path is relative to its directory.
    const worker = track(
      spawnBuilt(
        "sh",
        ["-c", `cd "${dir}" && exec node "${join(import.meta.dirname, "..", "bin", "salvo.js")}" worker tasks.ts`],
        {
          SALVO_URL: url,
          SALVO_API_KEY: key,
        },
      ),
    );
    await waitForOutput(worker, /cannot reach the server/);

    const server = track(
      spawnBuilt(process.execPath, ["dist/server/main.js"], {
        REDIS_URL: undefined,
        SALVO_DATA_DIR: "memory://",
        PORT: String(port),
        HOST: "127.0.0.1",
        SALVO_BOOTSTRAP_KEY: key,
        SALVO_LOG_LEVEL: "warn",
        SALVO_UNSERVED_AFTER_MS: "1000",
        // Dequeues answer every 100 ms and heartbeats tick every 500 ms: a listener left behind by
        // either would warn (MaxListenersExceededWarning) within seconds.
        SALVO_DEQUEUE_MAX_WAIT_MS: "100",
        SALVO_LEASE_MS: "1500",
      }),
    );
    await waitForOutput(server, /salvo listening on/);
    await waitForOutput(worker, /worker worker_\w+ serving orphan/, 60_000);
    // Lost once, in one line, however many tries it took; no stack.
    expect(lines(worker.output(), /cannot reach the server/)).toEqual([
      `salvo worker: cannot reach the server at ${url} (ECONNREFUSED); retrying with back-off`,
    ]);
    expect(worker.output()).not.toMatch(/^\s+at /m);

    // A batch of a task the worker does not serve.
    const res = await fetch(`${url}/api/v1/tasks/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ items: [1, 2, 3].map((n) => ({ task: "stray", payload: { n } })) }),
    });
    expect(res.status).toBe(200);
    const { batchId } = (await res.json()) as { batchId: string };
    const watch = cli(["batch", "watch", batchId]);
    await waitForOutput(
      watch,
      /no worker serves task "stray": 3 run\(s\) queued since \S+; start one with `salvo worker <module>`/,
    );
    await waitForOutput(watch, /no worker for stray/);
    await waitForOutput(
      server,
      // The log is JSON lines (stdout is no terminal): the message's quotes are escaped.
      /runs of task \\"stray\\" in env_\w+ have waited \d+ s with no worker serving it \(3 queued\)/,
    );

    // Over tRPC, the batch's progress says the same.
    const client = createSalvoClient({ url, apiKey: key });
    for await (const { message } of watchBatch(client, batchId)) {
      expect(message.batch.unserved).toEqual([{ task: "stray", queued: 3, since: expect.any(Date) }]);
      break;
    }

    // Canceling the stray runs ends the batch; the watch exits 1 (not every run succeeded).
    for (const runId of (await client.batch.get.query({ batchId })).runs) {
      const canceled = cli(["runs", "cancel", runId]);
      expect(await canceled.exited, canceled.output()).toBe(0);
      expect(canceled.output()).toBe(`canceled ${runId}\n`);
    }
    expect(await watch.exited).toBe(1);
    expect(watch.output()).toContain(`${batchId} COMPLETED: 0 succeeded, 3 failed`);

    // A task the worker serves is run, and never reported as unserved.
    const served = await fetch(`${url}/api/v1/tasks/orphan/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ items: [{ payload: { n: 7 } }] }),
    });
    const servedBatch = ((await served.json()) as { batchId: string }).batchId;
    const servedWatch = cli(["batch", "watch", servedBatch]);
    expect(await servedWatch.exited, servedWatch.output()).toBe(0);
    const [run] = (await client.run.list.query({ batchId: servedBatch })).items;
    expect(await client.run.get.query({ runId: run!.id })).toMatchObject({ output: { n: 7, attempt: 1 } });

    // `salvo runs replay`: a new run of the same task and payload, served like the first.
    const replayed = cli(["runs", "replay", run!.id]);
    expect(await replayed.exited, replayed.output()).toBe(0);
    const replayId = replayed.output().trim();
    expect(replayId).toMatch(/^run_\w+$/);
    expect(replayId).not.toBe(run!.id);
    for (let i = 0; i < 200 && (await client.run.get.query({ runId: replayId })).status !== "COMPLETED"; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await client.run.get.query({ runId: replayId })).toMatchObject({
      taskIdentifier: "orphan",
      status: "COMPLETED",
      output: { n: 7, attempt: 1 },
    });
    const unknown = cli(["runs", "replay", "run_doesnotexist"]);
    expect(await unknown.exited).toBe(1);
    expect(unknown.output()).toMatch(/^salvo: .*not found.*\n$/i);

    // `salvo runs list` with filters.
    const listed = cli(["runs", "list", "--batch", batchId, "--status", "CANCELED", "--task", "stray"]);
    expect(await listed.exited).toBe(0);
    expect(lines(listed.output(), /^run_\w+\tCANCELED\tstray\t/)).toHaveLength(3);
    const none = cli(["runs", "list", "--task", "orphan", "--tag", "nope"]);
    expect(await none.exited).toBe(0);
    expect(none.output()).toBe("no runs\n");

    // The log said it once, and the server went on saying nothing about "orphan".
    expect(lines(server.output(), /runs of task \\"stray\\"/)).toHaveLength(1);
    expect(server.output()).not.toContain('task \\"orphan\\"');

    // The server goes away: one line, then the worker stops cleanly on SIGTERM.
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    await waitForOutput(worker, /cannot reach the server[^\n]*\n[\s\S]*cannot reach the server/, 30_000);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(lines(worker.output(), /cannot reach the server/)).toHaveLength(2);
    expect(worker.output()).not.toContain("MaxListenersExceededWarning");
    expect(worker.output()).not.toMatch(/^\s+at /m);
  }, 180_000);

  it("batch watch fails fast, exit 2, when no server answers", async () => {
    const port = await freePort();
    const startedAt = Date.now();
    const watch = track(
      spawnBuilt(process.execPath, ["bin/salvo.js", "batch", "watch", "batch_x"], {
        SALVO_URL: `http://127.0.0.1:${port}`,
        SALVO_API_KEY: "tr_dev_x",
      }),
    );
    expect(await watch.exited).toBe(2);
    expect(watch.output()).toBe(
      `salvo: cannot reach the Salvo server at http://127.0.0.1:${port} (ECONNREFUSED): is it running? (set SALVO_URL to point elsewhere)\n`,
    );
    // Not a retry loop: well under the 3 s an event stream waits before its first retry.
    expect(Date.now() - startedAt).toBeLessThan(20_000);
  }, 30_000);
});
