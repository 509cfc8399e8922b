import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";
import type { BatchProgress, RunState } from "../../shared/index.js";
import type { StoredEvent } from "./read.js";
import { readBatchProgress, readRunStates } from "./snapshots.js";

/** An event with the current state of what it is about, read after it. */
export interface LiveItem extends StoredEvent {
  batch?: BatchProgress;
  run?: RunState;
}

/** Which states a subscriber wants beside its events. */
export interface Needs {
  batches: boolean;
  runs: boolean;
}

export async function enrich(
  db: Kysely<Database>,
  environmentId: string,
  events: StoredEvent[],
  needs: Needs,
  unservedAfterMs?: number,
): Promise<LiveItem[]> {
  const distinct = (pick: (e: StoredEvent) => string | null) => [
    ...new Set(events.map(pick).filter((v): v is string => v !== null)),
  ];
  const [batches, runs] = await Promise.all([
    needs.batches
      ? readBatchProgress(
          db,
          environmentId,
          distinct((e) => e.batchId),
          { unservedAfterMs },
        )
      : undefined,
    needs.runs
      ? readRunStates(
          db,
          environmentId,
          distinct((e) => e.runId),
        )
      : undefined,
  ]);
  return events.map((e) => {
    const batch = e.batchId !== null ? batches?.get(e.batchId) : undefined;
    const run = e.runId !== null ? runs?.get(e.runId) : undefined;
    return { ...e, ...(batch ? { batch } : {}), ...(run ? { run } : {}) };
  });
}
