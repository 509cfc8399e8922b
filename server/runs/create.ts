import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { FINAL_RUN_STATUSES, type RunStatus } from "../../shared/schemas.js";
import { appendEvents, type NewEvent } from "../events/outbox.js";
import { countRunsCreated } from "../observability/metrics.js";
import { insertRuns, planRunInsert, type RunInsert } from "./insert-runs.js";
import type { PreparedRun } from "./prepare.js";

export interface RunOutcome {
  runId: string;
  /** True when an idempotency key resolved the item to a run that already existed. */
  isCached: boolean;
  /** True when that existing run has already finished (a batch counts it as done at once). */
  isFinal: boolean;
}

/** Runs in these states give their idempotency key up: a retry should get a fresh run, not a dead one. */
const KEY_RELEASING_STATUSES = ["FAILED", "EXPIRED", "CRASHED", "SYSTEM_FAILURE", "TIMED_OUT"];
/** Insert, resolve the rows a unique index skipped, insert the released ones again: this many rounds at most. */
const MAX_INSERT_ROUNDS = 3;

const keyOf = (task: string, key: string) => `${task}\u0000${key}`;

/**
 * Runs to create, worked out before any transaction: which items share an idempotency key within
 * the call (all but the first resolve to the first one's run), and the first insert's statement.
 */
export interface RunPlan {
  prepared: PreparedRun[];
  /** Item -> the earlier item with the same task and key. */
  aliasOf: Map<number, number>;
  /** Items of the first insert: every item that is nobody's alias. */
  first: number[];
  insert: RunInsert;
}

export function planRuns(prepared: PreparedRun[]): RunPlan {
  const firstByKey = new Map<string, number>();
  const aliasOf = new Map<number, number>();
  const first: number[] = [];
  prepared.forEach(({ row }, i) => {
    if (row.idempotency_key) {
      const k = keyOf(row.task_identifier, row.idempotency_key);
      const earlier = firstByKey.get(k);
      if (earlier !== undefined) {
        aliasOf.set(i, earlier);
        return;
      }
      firstByKey.set(k, i);
    }
    first.push(i);
  });
  return { prepared, aliasOf, first, insert: planRunInsert(first.map((i) => prepared[i]!.row)) };
}

/**
 * Inserts planned runs in one transaction, honoring idempotency keys: an item whose key names a
 * live run of the same task in the environment resolves to that run instead of creating one.
 * Returns one outcome per prepared run, in order.
 *
 * Optimistic: every row is inserted first, and only the rows a unique index skipped are looked
 * up, so the common case (new keys) costs one statement, not a look-up plus an insert. A skipped
 * row whose key holds a live run resolves to it; one whose key holds a dead run (failed, expired,
 * key TTL over) releases the key and is inserted again.
 *
 * Events: runs of a batch get one `runs.created` event per call (per chunk of the stream) with
 * exact counts; a run outside any batch gets its own `run.created` event. See `creationEvents`.
 */
export async function createRuns(trx: Transaction<Database>, plan: RunPlan): Promise<RunOutcome[]> {
  const { prepared, aliasOf } = plan;
  if (prepared.length === 0) return [];
  const now = prepared[0]!.row.created_at as Date;
  const environmentId = prepared[0]!.row.environment_id;
  const outcomes: (RunOutcome | undefined)[] = new Array(prepared.length);
  let pending = plan.first;
  let insert = plan.insert;

  // Queues first: the lock order (docs/ARCHITECTURE.md) puts queue rows before run rows.
  await upsertQueues(trx, environmentId, prepared);
  const created: PreparedRun["row"][] = [];
  for (let round = 0; pending.length > 0; round++) {
    if (round === MAX_INSERT_ROUNDS) {
      throw new Error("idempotency keys kept conflicting with concurrent requests; retry the request");
    }
    const inserted = await insertRuns(trx, insert);
    const skipped: number[] = [];
    for (const i of pending) {
      const row = prepared[i]!.row;
      if (inserted.has(row.id)) {
        outcomes[i] = { runId: row.id, isCached: false, isFinal: false };
        created.push(row);
      } else skipped.push(i);
    }
    pending = await resolveSkipped(trx, environmentId, now, prepared, skipped, outcomes);
    insert = planRunInsert(pending.map((i) => prepared[i]!.row));
  }
  for (const [i, first] of aliasOf) {
    outcomes[i] = { runId: outcomes[first]!.runId, isCached: true, isFinal: outcomes[first]!.isFinal };
  }

  await appendEvents(trx, creationEvents(environmentId, created));
  countRunsCreated(trx, created.length);
  return outcomes as RunOutcome[];
}

/**
 * Rows a unique index skipped: a live run holding the key becomes the item's outcome; a dead one
 * gives its key up. Returns the items to insert again.
 */
async function resolveSkipped(
  trx: Transaction<Database>,
  environmentId: string,
  now: Date,
  prepared: PreparedRun[],
  skipped: number[],
  outcomes: (RunOutcome | undefined)[],
): Promise<number[]> {
  if (skipped.length === 0) return [];
  const byKey = new Map<string, number>();
  for (const i of skipped) {
    const row = prepared[i]!.row;
    // Only an idempotency key can make a row conflict (ids are unique by construction).
    if (!row.idempotency_key) throw new Error(`run ${row.id} could not be inserted: its id is taken`);
    byKey.set(keyOf(row.task_identifier, row.idempotency_key), i);
  }
  const keys = JSON.stringify(
    skipped.map((i) => ({ task: prepared[i]!.row.task_identifier, key: prepared[i]!.row.idempotency_key })),
  );
  const { rows: existing } = await sql<{
    id: string;
    task_identifier: string;
    idempotency_key: string;
    idempotency_key_expires_at: Date | null;
    status: string;
  }>`
    select id, task_identifier, idempotency_key, idempotency_key_expires_at, status from runs
    where environment_id = ${environmentId}
      and (task_identifier, idempotency_key) in (select task, key from json_to_recordset(${keys}::json) as k(task text, key text))
    -- Locked until commit, so a run cannot finish unseen between this read and the batch item
    -- that will point at it. FOR UPDATE, not FOR SHARE: a dead run's key is cleared below, and
    -- two requests sharing a lock they both then upgrade deadlock. In id order, as every
    -- statement locking several runs.
    order by id
    for update`.execute(trx);
  const released: string[] = [];
  const retry: number[] = [];
  for (const run of existing) {
    const i = byKey.get(keyOf(run.task_identifier, run.idempotency_key));
    if (i === undefined) continue;
    const expiresAt = run.idempotency_key_expires_at === null ? null : new Date(run.idempotency_key_expires_at);
    if ((expiresAt !== null && expiresAt <= now) || KEY_RELEASING_STATUSES.includes(run.status)) {
      released.push(run.id);
      retry.push(i);
    } else
      outcomes[i] = { runId: run.id, isCached: true, isFinal: FINAL_RUN_STATUSES.includes(run.status as RunStatus) };
    byKey.delete(keyOf(run.task_identifier, run.idempotency_key));
  }
  // A key whose holder vanished between the insert and this look-up (rolled back) is free again.
  retry.push(...byKey.values());
  if (released.length > 0) {
    await trx
      .updateTable("runs")
      .set({ idempotency_key: null, idempotency_key_expires_at: null })
      .where("id", "in", released)
      .execute();
  }
  return retry;
}

/**
 * Runs of a batch are announced per call with one `runs.created` event carrying exact counts
 * (`count`, `byStatus`, `byTask`), so a chunk of 5,000 items writes one event row, not 5,000;
 * summing `count` over a batch's `runs.created` events gives its number of runs. The range of
 * their batch indexes (`firstIndex`..`lastIndex`) lets the realtime shapes find the new runs. A run outside
 * any batch gets its own `run.created` event, so watchers of a single run see its creation.
 */
function creationEvents(environmentId: string, created: PreparedRun["row"][]): NewEvent[] {
  const events: NewEvent[] = [];
  const batches = new Map<
    string,
    {
      count: number;
      byStatus: Record<string, number>;
      byTask: Record<string, number>;
      firstIndex: number;
      lastIndex: number;
    }
  >();
  for (const r of created) {
    if (r.batch_id) {
      const index = r.batch_index ?? 0;
      let summary = batches.get(r.batch_id);
      if (!summary) {
        summary = { count: 0, byStatus: {}, byTask: {}, firstIndex: index, lastIndex: index };
        batches.set(r.batch_id, summary);
      }
      summary.count++;
      summary.firstIndex = Math.min(summary.firstIndex, index);
      summary.lastIndex = Math.max(summary.lastIndex, index);
      summary.byStatus[r.status] = (summary.byStatus[r.status] ?? 0) + 1;
      summary.byTask[r.task_identifier] = (summary.byTask[r.task_identifier] ?? 0) + 1;
    } else {
      events.push({
        environment_id: environmentId,
        batch_id: null,
        run_id: r.id,
        type: "run.created",
        data: JSON.stringify({ status: r.status, taskIdentifier: r.task_identifier }),
      });
    }
  }
  for (const [batchId, summary] of batches) {
    events.push({
      environment_id: environmentId,
      batch_id: batchId,
      run_id: null,
      type: "runs.created",
      data: JSON.stringify(summary),
    });
  }
  return events;
}

/**
 * Every queue a run names exists; a limit given with an item becomes the queue's limit. Existing
 * queues are not locked (`do nothing`), and a limit is only written where it changes: a queue's
 * row lock is what claims take (`SKIP LOCKED`), and a chunk holding it for its whole transaction
 * would keep workers off the queue while a batch streams in.
 */
async function upsertQueues(trx: Transaction<Database>, environmentId: string, prepared: PreparedRun[]) {
  const limits = new Map<string, number | null>();
  for (const p of prepared) {
    const name = p.row.queue;
    if (p.queueLimit !== undefined) limits.set(name, p.queueLimit);
    else if (!limits.has(name)) limits.set(name, null);
  }
  // Sorted, so two transactions creating the same queues wait for each other in the same order.
  const values = [...limits.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, concurrency_limit]) => ({ environment_id: environmentId, name, concurrency_limit }));
  await trx
    .insertInto("queues")
    .values(values)
    .onConflict((oc) => oc.columns(["environment_id", "name"]).doNothing())
    .execute();
  const changed = values.filter((v) => v.concurrency_limit !== null);
  if (changed.length > 0) {
    await sql`
      update queues q set concurrency_limit = v.concurrency_limit
      from json_to_recordset(${JSON.stringify(changed)}::json) as v(name text, concurrency_limit integer)
      where q.environment_id = ${environmentId} and q.name = v.name and q.concurrency_limit is distinct from v.concurrency_limit`.execute(
      trx,
    );
  }
}
