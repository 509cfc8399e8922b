import type { Transaction } from "kysely";
import { FINAL_RUN_STATUSES, type RunStatus } from "../../shared/schemas.js";
import type { Database } from "../../db/schema.js";
import { appendEvents } from "../events/outbox.js";
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
/** Postgres allows 65,535 bind parameters per statement; runs have ~30 columns. */
const INSERT_SLICE = 1000;

const keyOf = (task: string, key: string) => `${task}\u0000${key}`;

/**
 * Inserts runs in one transaction, honoring idempotency keys: an item whose key names a live run
 * of the same task in the environment resolves to that run instead of creating one. Returns one
 * outcome per prepared run, in order. Every new run gets a `run.created` event.
 */
export async function createRuns(trx: Transaction<Database>, prepared: PreparedRun[]): Promise<RunOutcome[]> {
  if (prepared.length === 0) return [];
  const now = prepared[0]!.row.created_at as Date;
  const environmentId = prepared[0]!.row.environment_id;
  const outcomes: (RunOutcome | undefined)[] = new Array(prepared.length);

  // Items sharing a key within this call resolve to the first of them.
  const firstByKey = new Map<string, number>();
  const aliasOf = new Map<number, number>();
  prepared.forEach(({ row }, i) => {
    if (!row.idempotency_key) return;
    const k = keyOf(row.task_identifier, row.idempotency_key);
    const first = firstByKey.get(k);
    if (first === undefined) firstByKey.set(k, i);
    else aliasOf.set(i, first);
  });

  const resolveExisting = async (keys: Map<string, number>) => {
    if (keys.size === 0) return;
    const items = [...keys.values()].map((i) => prepared[i]!.row);
    const existing = await trx
      .selectFrom("runs")
      .select(["id", "task_identifier", "idempotency_key", "idempotency_key_expires_at", "status"])
      .where("environment_id", "=", environmentId)
      .where("task_identifier", "in", [...new Set(items.map((r) => r.task_identifier))])
      .where("idempotency_key", "in", [...new Set(items.map((r) => r.idempotency_key!))])
      // Locked until commit, so a run cannot finish unseen between this read and the batch item
      // that will point at it (the finish would otherwise not count for this batch).
      .forShare()
      .execute();
    const released: string[] = [];
    for (const run of existing) {
      const i = keys.get(keyOf(run.task_identifier, run.idempotency_key!));
      if (i === undefined) continue;
      const expired = run.idempotency_key_expires_at !== null && run.idempotency_key_expires_at <= now;
      if (expired || KEY_RELEASING_STATUSES.includes(run.status)) released.push(run.id);
      else outcomes[i] = { runId: run.id, isCached: true, isFinal: FINAL_RUN_STATUSES.includes(run.status as RunStatus) };
    }
    if (released.length > 0) {
      await trx.updateTable("runs").set({ idempotency_key: null, idempotency_key_expires_at: null }).where("id", "in", released).execute();
    }
  };
  await resolveExisting(firstByKey);

  const toInsert = prepared.filter((_, i) => outcomes[i] === undefined && !aliasOf.has(i));
  const inserted = new Set<string>();
  for (let start = 0; start < toInsert.length; start += INSERT_SLICE) {
    const slice = toInsert.slice(start, start + INSERT_SLICE).map((p) => p.row);
    // A concurrent transaction may commit the same key between our look-up and this insert; the
    // unique index then skips our row and we resolve to the winner below.
    const rows = await trx.insertInto("runs").values(slice).onConflict((oc) => oc.doNothing()).returning("id").execute();
    for (const r of rows) inserted.add(r.id);
  }
  const lost = new Map<string, number>();
  prepared.forEach(({ row }, i) => {
    if (outcomes[i] !== undefined || aliasOf.has(i)) return;
    if (inserted.has(row.id)) outcomes[i] = { runId: row.id, isCached: false, isFinal: false };
    else lost.set(keyOf(row.task_identifier, row.idempotency_key!), i);
  });
  await resolveExisting(lost);
  for (const [i, first] of aliasOf) {
    const target = outcomes[first];
    if (target) outcomes[i] = { runId: target.runId, isCached: true, isFinal: target.isFinal };
  }
  if (outcomes.some((o) => o === undefined)) {
    throw new Error("an idempotency key conflicted with a run that could not be found; retry the request");
  }

  await upsertQueues(trx, environmentId, prepared);
  const created = prepared.filter((p) => inserted.has(p.row.id)).map((p) => p.row);
  await appendEvents(
    trx,
    created.map((r) => ({
      environment_id: environmentId,
      batch_id: r.batch_id ?? null,
      run_id: r.id,
      type: "run.created",
      data: JSON.stringify({ status: r.status, taskIdentifier: r.task_identifier }),
    })),
  );
  return outcomes as RunOutcome[];
}

/** Every queue a run names exists; a limit given with an item becomes the queue's limit. */
async function upsertQueues(trx: Transaction<Database>, environmentId: string, prepared: PreparedRun[]) {
  const limits = new Map<string, number | null>();
  for (const p of prepared) {
    const name = p.row.queue;
    if (p.queueLimit !== undefined) limits.set(name, p.queueLimit);
    else if (!limits.has(name)) limits.set(name, null);
  }
  // Sorted, so two transactions touching the same queues lock them in the same order.
  const values = [...limits.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, concurrency_limit]) => ({ environment_id: environmentId, name, concurrency_limit }));
  await trx
    .insertInto("queues")
    .values(values)
    .onConflict((oc) =>
      oc
        .columns(["environment_id", "name"])
        .doUpdateSet({ concurrency_limit: (eb) => eb.ref("excluded.concurrency_limit") })
        .where("excluded.concurrency_limit", "is not", null),
    )
    .execute();
}
