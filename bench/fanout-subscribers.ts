/**
 * The subscribers of the fan-out bench, in a process of their own (as they are in production:
 * other services), started by bench/fanout.ts over IPC. Opens `count` `batch.watch` subscriptions
 * through the real client, says "ready" once each has received its snapshot, and at the end
 * sends back the latency of every `run.status` event each subscriber received: arrival
 * (`Date.now()` here) minus the event's `createdAt` (its transaction's start, from Postgres; same
 * machine, same clock). Each subscriber must get every event exactly once, or the run fails.
 */
import { createSalvoClient } from "../client/index.js";

export interface SubscribeOrder {
  url: string;
  apiKey: string;
  batchId: string;
  count: number;
  /** `run.status` events each subscriber must receive, each exactly once. */
  events: number;
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

process.once("message", (order: SubscribeOrder) => {
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
    send({ kind: "done", latencies, errors, cpuMs: (cpu.user + cpu.system) / 1000, perEvent }, () => process.exit(0));
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
            perEvent[e.id] ??= [ms, ms];
            const range = perEvent[e.id]!;
            range[0] = Math.min(range[0], ms);
            range[1] = Math.max(range[1], ms);
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
