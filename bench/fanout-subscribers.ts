/**
 * The subscribers of the fan-out bench, in a process of their own (as they are in production:
 * other services), started by bench/fanout.ts over IPC. Opens `count` `batch.watch` subscriptions
 * through the real client, says "ready" once each has received its snapshot, and at the end
 * sends back the latency of every `run.status` event each subscriber received: arrival
 * (`Date.now()` here) minus the event's `createdAt` (its transaction's start, from Postgres; same
 * machine, same clock). Each subscriber must get every event exactly once, or the run fails.
 */
import { createSalvoClient } from "../client/index.js";
import { startWindowProfile } from "./window-profile.js";

export interface SubscribeOrder {
  url: string;
  apiKey: string;
  batchId: string;
  count: number;
  /** `run.status` events each subscriber must receive, each exactly once. */
  events: number;
  /**
   * `trpc`: `batch.watch` (SSE); `shape`: the realtime route the SDK's `runs.subscribeToBatch`
   * reads (Electric's long polls, made here with plain fetch: the server's side is what is timed).
   */
  protocol: "trpc" | "shape";
}

export type SubscriberReport =
  | { kind: "ready" }
  /** `cpuMs`: this process's CPU time from "ready" to the end (what the subscribers' side costs). */
  | {
      kind: "done";
      latencies: number[];
      errors: string[];
      cpuMs: number;
      perEvent: Record<string, [first: number, last: number]>;
    };

const send = (report: SubscriberReport, then?: () => void) => process.send!(report, undefined, {}, then);

/** With FANOUT_PROFILE=<dir>: a CPU profile of this process from "ready" to "done" (bench/window-profile.ts). */
const profileDir = process.env.FANOUT_PROFILE;
let profiling: ReturnType<typeof startWindowProfile> | undefined;
const startProfile = () => {
  if (profileDir) profiling = startWindowProfile();
};
const reportDone = async (report: Extract<SubscriberReport, { kind: "done" }>) => {
  if (profiling) await (await profiling)(profileDir!, `subscribers-${process.pid}`);
  send(report, () => process.exit(0));
};

/** Keeps the lowest and highest latency seen for one event. */
function widen(perEvent: Record<string, [number, number]>, id: string, ms: number) {
  const range = perEvent[id];
  if (range) perEvent[id] = [Math.min(range[0], ms), Math.max(range[1], ms)];
  else perEvent[id] = [ms, ms];
}

process.once("message", (order: SubscribeOrder) => {
  if (order.protocol === "shape") return shapeSubscribers(order);
  const client = createSalvoClient({ url: order.url, apiKey: order.apiKey });
  const latencies: number[] = [];
  /** Per event id, the lowest and highest latency among this process's subscribers. */
  const perEvent: Record<string, [number, number]> = {};
  const errors: string[] = [];
  let started = 0;
  let cpuAtReady = process.cpuUsage();
  let finished = 0;
  const end = () => {
    if (++finished < order.count) return;
    const cpu = process.cpuUsage(cpuAtReady);
    void reportDone({ kind: "done", latencies, errors, cpuMs: (cpu.user + cpu.system) / 1000, perEvent });
  };
  for (let i = 0; i < order.count; i++) {
    let first = true;
    const seen = new Set<string>();
    client.batch.watch.subscribe(
      { batchId: order.batchId },
      {
        onData: ({ data }) => {
          if (first) {
            first = false;
            if (++started === order.count) {
              cpuAtReady = process.cpuUsage();
              startProfile();
              send({ kind: "ready" });
            }
            return;
          }
          if (data.kind !== "events") return;
          const now = Date.now();
          for (const e of data.events) {
            if (e.type !== "run.status") continue;
            if (seen.has(e.id)) errors.push(`subscriber ${i} got event ${e.id} twice`);
            seen.add(e.id);
            const ms = now - e.createdAt.getTime();
            latencies.push(ms);
            widen(perEvent, e.id, ms);
          }
        },
        onComplete: () => {
          if (seen.size !== order.events) errors.push(`subscriber ${i} got ${seen.size} of ${order.events} events`);
          end();
        },
        onError: (err) => {
          errors.push(String(err));
          end();
        },
      },
    );
  }
});

/**
 * Long-poll subscribers of `GET /realtime/v1/batches/{id}`: the initial rows, then live requests
 * until each has seen every run COMPLETED, once. Latency: arrival minus the row's `updatedAt`
 * (set by the transition, just before its transaction).
 */
function shapeSubscribers(order: SubscribeOrder) {
  const latencies: number[] = [];
  const perEvent: Record<string, [number, number]> = {};
  const errors: string[] = [];
  const headers = { authorization: `Bearer ${order.apiKey}` };
  const base = `${order.url}/realtime/v1/batches/${order.batchId}`;
  let started = 0;
  let cpuAtReady = process.cpuUsage();
  const subscriber = async (i: number) => {
    const first = await fetch(`${base}?offset=-1`, { headers });
    let handle = first.headers.get("electric-handle")!;
    let offset = first.headers.get("electric-offset")!;
    await first.arrayBuffer();
    if (++started === order.count) {
      cpuAtReady = process.cpuUsage();
      send({ kind: "ready" });
    }
    const seen = new Set<string>();
    while (seen.size < order.events) {
      const res = await fetch(`${base}?${new URLSearchParams({ offset, handle, live: "true" })}`, { headers });
      const now = Date.now();
      if (res.status !== 200) throw new Error(`subscriber ${i}: ${res.status} ${await res.text()}`);
      handle = res.headers.get("electric-handle")!;
      offset = res.headers.get("electric-offset")!;
      const messages = (await res.json()) as {
        key?: string;
        value?: { id: string; status: string; updatedAt: string };
      }[];
      for (const m of messages) {
        if (m.value?.status !== "COMPLETED_SUCCESSFULLY") continue;
        if (seen.has(m.value.id)) errors.push(`subscriber ${i} got run ${m.value.id} completed twice`);
        seen.add(m.value.id);
        const ms = now - Date.parse(`${m.value.updatedAt}Z`);
        latencies.push(ms);
        widen(perEvent, m.value.id, ms);
      }
    }
  };
  void Promise.all(
    Array.from({ length: order.count }, (_, i) => subscriber(i).catch((err) => void errors.push(String(err)))),
  ).then(() => {
    const cpu = process.cpuUsage(cpuAtReady);
    send({ kind: "done", latencies, errors, cpuMs: (cpu.user + cpu.system) / 1000, perEvent }, () => process.exit(0));
  });
}
