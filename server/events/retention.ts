import type { Deps } from "../deps.js";

/** Deleted per statement, so pruning a large backlog never holds long locks or one huge transaction. */
const SLICE = 10_000;

/**
 * Deletes events older than `SALVO_EVENT_RETENTION_HOURS`. Safe with several servers doing it at
 * once (each slice deletes whatever is still there). Returns how many were deleted.
 */
export async function pruneEvents({ db, config }: Deps, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - config.events.retentionHours * 3_600_000);
  let total = 0;
  for (;;) {
    const result = await db
      .deleteFrom("events")
      .where("id", "in", (eb) => eb.selectFrom("events").select("id").where("created_at", "<", cutoff).limit(SLICE))
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    total += deleted;
    if (deleted < SLICE) return total;
  }
}
