/**
 * The work every system is given: the same ~100-byte JSON payload, two tags and a unique key per
 * item (Salvo's idempotency key, pg-boss's singletonKey, graphile-worker's jobKey, BullMQ's jobId).
 */
export const TASK = "bench-task";

export interface BenchItem {
  payload: { userId: string; email: string; plan: string; locale: string; n: number };
  tags: string[];
  key: string;
}

export function benchItem(runTag: string, i: number): BenchItem {
  return {
    payload: {
      userId: `user_${String(i).padStart(7, "0")}`,
      email: `user${i}@example.com`,
      plan: "pro",
      locale: "en-US",
      n: i,
    },
    tags: ["bench", `tenant_${i % 10}`],
    key: `${runTag}-${i}`,
  };
}

/** A tag unique to one repetition, so keys never collide across repetitions or bench runs. */
export const runTag = (label: string, rep: number) => `${label}-${process.pid}-${Date.now().toString(36)}-${rep}`;
