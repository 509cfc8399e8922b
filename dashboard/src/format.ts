import type { BatchProgress } from "../../shared/live.js";
import type { BatchSummary } from "../../shared/schemas.js";

export const dateTime = (date: Date | undefined) =>
  date ? date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }) : "—";

export function duration(from: Date | undefined, to: Date | undefined): string {
  if (!from) return "—";
  const ms = (to ?? new Date()).getTime() - from.getTime();
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return minutes < 60
    ? `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export const json = (value: unknown) => (value === undefined ? "—" : JSON.stringify(value, null, 2));

/**
 * Finished runs out of the batch's runs: the runs its items became once it is sealed, the items
 * it expects before. From the live progress when there is one, else from the batch's counter.
 */
export function progressOf(summary: BatchSummary | undefined, live: BatchProgress | undefined) {
  if (live) return { finished: live.runs.finished, total: live.successfulRunCount ?? live.runCount };
  if (summary) return { finished: summary.finishedItemCount, total: summary.successfulRunCount ?? summary.runCount };
  return { finished: 0, total: 0 };
}
