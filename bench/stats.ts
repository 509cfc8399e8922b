/** Nearest-rank percentile of a non-empty sample (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of an empty sample");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export const median = (values: number[]) => percentile(values, 50);
export const p95 = (values: number[]) => percentile(values, 95);

/** Wall-clock milliseconds of one call. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

/** Runs `fn` `warmup` times unmeasured, then `reps` times measured; returns the milliseconds. */
export async function sample(warmup: number, reps: number, fn: (rep: number) => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < reps; i++) out.push((await timed(() => fn(i))).ms);
  return out;
}
