/**
 * Event-to-subscriber latency with many subscribers on one batch.
 *
 *   npx tsx bench/fanout.ts                 # embedded PGlite, in-process bus
 *   DATABASE_URL=… REDIS_URL=… npx tsx bench/fanout.ts --subscribers 1000 --events 200
 *
 * One server in this process; `subscribers` SSE subscriptions to `batch.watch` through the real
 * client; then `events` run transitions, one transaction each, paced `intervalMs` apart (latency,
 * not throughput, is measured). Latency = arrival at a subscriber minus the event's `createdAt`
 * (its transaction's start, on the same machine's clock), over every (event, subscriber) pair.
 */
import { pathToFileURL } from "node:url";
import { createSalvoClient } from "../client/index.js";
import { setRunStatus } from "../test/support/live.js";
import { ndjson, startTestSalvo } from "../test/support/salvo.js";

export interface FanoutOptions {
  subscribers?: number;
  events?: number;
  intervalMs?: number;
}

export interface FanoutResult {
  subscribers: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
}

export async function runFanoutBench(opts: FanoutOptions = {}): Promise<FanoutResult> {
  const subscribers = opts.subscribers ?? 1000;
  const events = opts.events ?? 200;
  const intervalMs = opts.intervalMs ?? 20;
  const salvo = await startTestSalvo();
  try {
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const created = await salvo.api("/api/v3/batches", { json: { runCount: events } });
    const { id: batchId } = (await created.json()) as { id: string };
    const items = Array.from({ length: events }, (_, index) => ({ index, task: "bench", payload: {} }));
    await salvo.api(`/api/v3/batches/${batchId}/items`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: ndjson(items) });
    const runs = (await client.batch.get.query({ batchId })).runs;

    const latencies: number[] = [];
    let finished = 0;
    let allDone!: () => void;
    const done = new Promise<void>((r) => (allDone = r));
    let started = 0;
    let allStarted!: () => void;
    const ready = new Promise<void>((r) => (allStarted = r));
    const subs = Array.from({ length: subscribers }, () => {
      let first = true;
      return client.batch.watch.subscribe(
        { batchId },
        {
          onData: ({ data }) => {
            if (first) {
              first = false;
              if (++started === subscribers) allStarted();
              return;
            }
            if (data.kind !== "events") return;
            const now = Date.now();
            for (const e of data.events) if (e.type === "run.status") latencies.push(now - e.createdAt.getTime());
          },
          onComplete: () => {
            if (++finished === subscribers) allDone();
          },
          onError: (err) => {
            console.error("subscriber failed:", err);
            if (++finished === subscribers) allDone();
          },
        },
      );
    });
    const t0 = Date.now();
    await ready;
    if (process.env.FANOUT_DEBUG) console.log(`${subscribers} subscribed in ${Date.now() - t0} ms`);
    for (const runId of runs) {
      await setRunStatus(salvo.deps, salvo.env.environmentId, [runId], "COMPLETED");
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    await done;
    for (const s of subs) s.unsubscribe();
    if (latencies.length !== subscribers * events) {
      throw new Error(`expected ${subscribers * events} deliveries, got ${latencies.length}`);
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
    return { subscribers, events, p50Ms: pct(50), p99Ms: pct(99) };
  } finally {
    await salvo.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? undefined : Number(process.argv[i + 1]);
  };
  const result = await runFanoutBench({ subscribers: arg("subscribers"), events: arg("events"), intervalMs: arg("interval") });
  const where = `${process.env.DATABASE_URL ? "Postgres" : "PGlite"} + ${process.env.REDIS_URL ? "Redis" : "in-process bus"}`;
  console.log(`fan-out (${where})`);
  console.table([result]);
  process.exit(0);
}
