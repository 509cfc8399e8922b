/**
 * Durations as Trigger.dev writes them: "30s", "15m", "1h42m", "2d", "2w" (units may repeat in
 * descending order; "hr" is accepted for hours). Returns whole seconds, or undefined when the
 * text is not a duration.
 */
const UNIT_SECONDS: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, hr: 3_600, m: 60, s: 1 };
const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)(?:hr|h))?(?:(\d+)m)?(?:(\d+)s)?$/;

export function parseDurationSeconds(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m || m.slice(1).every((part) => part === undefined)) return undefined;
  const [w, d, h, min, s] = m.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  return w! * UNIT_SECONDS.w! + d! * UNIT_SECONDS.d! + h! * UNIT_SECONDS.h! + min! * UNIT_SECONDS.m! + s!;
}

/** Renders seconds back into the compact form ("1h42m"), used for a run's `ttl` field. */
export function formatDuration(totalSeconds: number): string {
  let rest = Math.max(0, Math.floor(totalSeconds));
  let out = "";
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out === "" ? "0s" : out;
}
