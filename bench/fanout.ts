/**
 * Event-to-subscriber latency with many subscribers on one batch.
 *
 *   npx tsx bench/fanout.ts                 # embedded PGlite, in-process bus
 *   DATABASE_URL=… REDIS_URL=… npx tsx bench/fanout.ts --subscribers 1000 --events 20 --interval 200 [--processes 1]
 *   FANOUT_DEBUG=1 …                        # also: CPU per side, each event's first/last subscriber latency
 *   FANOUT_PROFILE=<dir> …                  # CPU profiles of each side while events flow (server.cpuprofile, subscribers-<pid>.cpuprofile)
 *   … --shape                               # subscribers on GET /realtime/v1/batches/{id} (the SDK's subscribeToBatch)
 *
 * One server in this process; `subscribers` SSE subscriptions to `batch.watch` through the real
 * client, in `processes` other processes (bench/fanout-subscribers.ts; subscribers are other
 * services, and sharing this process's event loop would count their parsing as the server's
 * delay); then `events` run transitions, one transaction each, paced `intervalMs` apart (latency,
 * not throughput, is measured). Latency = arrival at a subscriber (`Date.now()` in its process)
 * minus the event's `createdAt` (its transaction's start, from Postgres; one machine, one clock),
 * over every (event, subscriber) pair; the run fails unless every pair was delivered exactly once.
 */
import { fork } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createSalvoClient } from "../client/index.js";
import { testHooks } from "../server/test-hooks.js";
import { setRunStatus } from "../test/support/live.js";
import { ndjson, startTestSalvo } from "../test/support/salvo.js";
import type { SubscribeOrder, SubscriberReport } from "./fanout-subscribers.js";
import { startWindowProfile } from "./window-profile.js";

export interface FanoutOptions {
  subscribers?: number;
  events?: number;
  intervalMs?: number;
  /** Processes the subscribers are spread over. */
  processes?: number;
  /** `trpc` (`batch.watch`, the default) or `shape` (the SDK's realtime route). */
  protocol?: "trpc" | "shape";
}

export interface FanoutResult {
  subscribers: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * Per event, how long until the last subscriber had it, split in two: the server's share (the
   * event's transaction start to its last socket write, here) and the subscribers' share (that
   * write to the last arrival, in their processes); median and highest over the events.
   */
  serverMs: { p50: number; max: number };
  subscriberMs: { p50: number; max: number };
}

const SUBSCRIBERS_SCRIPT = fileURLToPath(new URL("./fanout-subscribers.ts", import.meta.url));

/** A process of subscribers: `ready` once all have their snapshot, `done` with their latencies. */
function startSubscribers(order: SubscribeOrder) {
  const child = fork(SUBSCRIBERS_SCRIPT, [], {
    execArgv: ["--import", "tsx", ...(process.env.CHILD_ARGS ? process.env.CHILD_ARGS.split(" ") : [])],
    stdio: "inherit",
  });
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const done = new Promise<Extract<SubscriberReport, { kind: "done" }>>((resolve, reject) => {
    child.on("message", (report: SubscriberReport) => {
      if (report.kind === "ready") ready();
      else resolve(report);
    });
    child.on("exit", (code) => reject(new Error(`subscriber process exited (${code}) before reporting`)));
  });
  done.catch(() => {});
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.send(order);
  return { ready: Promise.race([readyP, done.then(() => {})]), done, exited, kill: () => child.kill() };
}

export async function runFanoutBench(opts: FanoutOptions = {}): Promise<FanoutResult> {
  const subscribers = opts.subscribers ?? 1000;
  const events = opts.events ?? 200;
  const intervalMs = opts.intervalMs ?? 20;
  const processes = Math.max(1, Math.min(opts.processes ?? 1, subscribers));
  const salvo = await startTestSalvo();
  const children: ReturnType<typeof startSubscribers>[] = [];
  // Per run.status event id: ms from its createdAt to the latest write of it to any subscriber's socket.
  const lastWrite = new Map<string, number>();
  testHooks.afterSseMessageWritten = (message) => {
    const m = message as { kind?: string; events?: { id: string; type: string; createdAt: Date | string }[] };
    if (m.kind !== "events" || !m.events) return;
    const now = Date.now();
    for (const e of m.events) if (e.type === "run.status") lastWrite.set(e.id, now - new Date(e.createdAt).getTime());
  };
  try {
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const created = await salvo.api("/api/v3/batches", { json: { runCount: events } });
    const { id: batchId } = (await created.json()) as { id: string };
    const items = Array.from({ length: events }, (_, index) => ({ index, task: "bench", payload: {} }));
    await salvo.api(`/api/v3/batches/${batchId}/items`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: ndjson(items),
    });
    const runs = (await client.batch.get.query({ batchId })).runs;

    const t0 = Date.now();
    for (let p = 0; p < processes; p++) {
      const count = Math.floor(subscribers / processes) + (p < subscribers % processes ? 1 : 0);
      children.push(
        startSubscribers({
          url: salvo.url,
          apiKey: salvo.key,
          batchId,
          count,
          events,
          protocol: opts.protocol ?? "trpc",
        }),
      );
    }
    await Promise.all(children.map((c) => c.ready));
    if (process.env.FANOUT_DEBUG) console.log(`${subscribers} subscribed in ${Date.now() - t0} ms`);
    const profileDir = process.env.FANOUT_PROFILE;
    const stopProfile = profileDir ? await startWindowProfile() : undefined;
    const cpuAtStart = process.cpuUsage();
    for (const runId of runs) {
      await setRunStatus(salvo.deps, salvo.env.environmentId, [runId], "COMPLETED");
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    const reports = await Promise.all(children.map((c) => c.done));
    await Promise.all(children.map((c) => c.exited));
    if (process.env.FANOUT_DEBUG) {
      const cpu = process.cpuUsage(cpuAtStart);
      const subscribersCpu = reports.map((r) => r.cpuMs.toFixed(0)).join(" + ");
      console.log(
        `CPU while events flowed: server ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, subscribers ${subscribersCpu} ms`,
      );
      const ranges = new Map<string, [number, number]>();
      for (const r of reports) {
        for (const [id, [first, last]] of Object.entries(r.perEvent)) {
          const range = ranges.get(id);
          ranges.set(id, range ? [Math.min(range[0], first), Math.max(range[1], last)] : [first, last]);
        }
      }
      console.log(
        `first-last subscriber latency per event (ms): ${[...ranges.values()].map(([a, b]) => `${a}-${b}`).join(" ")}`,
      );
    }
    if (stopProfile) console.log(`server profile: ${await stopProfile(profileDir!, "server")}`);
    const errors = reports.flatMap((r) => r.errors);
    if (errors.length > 0) throw new Error(`${errors.length} subscribers failed, first: ${errors[0]}`);
    const latencies = reports.flatMap((r) => r.latencies);
    if (latencies.length !== subscribers * events) {
      throw new Error(`expected ${subscribers * events} deliveries, got ${latencies.length}`);
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
    const serverShares: number[] = [];
    const subscriberShares: number[] = [];
    for (const [id, server] of lastWrite) {
      const last = Math.max(...reports.map((r) => r.perEvent[id]?.[1] ?? Number.NEGATIVE_INFINITY));
      serverShares.push(server);
      subscriberShares.push(Math.max(0, last - server));
    }
    const spread = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return { p50: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN };
    };
    return {
      subscribers,
      events,
      p50Ms: pct(50),
      p99Ms: pct(99),
      serverMs: spread(serverShares),
      subscriberMs: spread(subscriberShares),
    };
  } finally {
    testHooks.afterSseMessageWritten = undefined;
    for (const c of children) c.kill();
    await salvo.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? undefined : Number(process.argv[i + 1]);
  };
  const result = await runFanoutBench({
    subscribers: arg("subscribers"),
    events: arg("events"),
    intervalMs: arg("interval"),
    processes: arg("processes"),
    protocol: process.argv.includes("--shape") ? "shape" : "trpc",
  });
  const where = `${process.env.DATABASE_URL ? "Postgres" : "PGlite"} + ${process.env.REDIS_URL ? "Redis" : "in-process bus"}`;
  console.log(`fan-out (${where})`);
  console.table([result]);
  process.exit(0);
}
