import { type Kysely, type RawBuilder, sql, type Transaction } from "kysely";
import { PREPARED } from "../../db/prepared.js";
import type { Database, RunRow } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import { runStatusEventsOf } from "./record.js";

/** A locked queue with a concurrency limit: claimed from by a statement of its own. */
interface LimitedQueue {
  name: string;
  concurrency_limit: number;
}

/** What a claim returns of each run: what its worker is handed, and what orders and records it. */
const CLAIMED_COLUMNS = [
  "id",
  "environment_id",
  "task_identifier",
  "status",
  "payload",
  "payload_type",
  "attempt",
  "max_attempts",
  "queue",
  "concurrency_key",
  "tags",
  "metadata",
  "batch_id",
  "batch_index",
  "parent_run_id",
  "lease_expires_at",
  "claim_id",
  "created_at",
] as const;
export type ClaimedRow = Pick<RunRow, (typeof CLAIMED_COLUMNS)[number]>;

/** How many queues one claim may serve, and how far into a queue it looks past blocked keys. */
const MAX_QUEUES_PER_CLAIM = 16;
const SCAN_FACTOR = 10;
const MIN_SCAN = 200;

/**
 * Claims up to `max` QUEUED runs of the given tasks for a worker, in one transaction.
 *
 * Concurrency limits hold however many workers claim at once because a claim takes the queue's
 * row lock (`FOR UPDATE SKIP LOCKED`) before it counts what the queue is executing: a second
 * claimer skips that queue rather than counting the same free slots. Each concurrency key is its
 * own group with its own copy of the limit (runs without a key form one group). Queues are
 * served least-recently-served first and the claim is spread across them, so one queue's backlog
 * cannot starve another's.
 *
 * One statement locks the queues and claims from those without a limit: nothing there needs to
 * be counted, and the `status = 'QUEUED'` re-check of the update keeps a run from being claimed
 * twice. A queue with a limit is claimed from by a statement of its own after the lock, because
 * only a statement that starts after the lock sees every claim committed before it.
 *
 * A claim never waits for a lock (docs/ARCHITECTURE.md, "Lock order"): queues and runs are both
 * taken `SKIP LOCKED`, so a run another transaction holds (a batch resolving an idempotency key to
 * it, a cancel) is left for a later claim. Its statement text is the same whatever the task list
 * (an array parameter), so it is prepared once per connection.
 *
 * Given the database rather than a transaction, the claim commits on its own: its first statement
 * is a transaction by itself (one round trip: no BEGIN, no COMMIT; how a worker's dequeue claims),
 * and each limited queue it picked is claimed from in a transaction of its own that takes the
 * queue's lock again (`SKIP LOCKED`: a claim that took it meanwhile serves it) before counting.
 */
export async function claimRuns(
  trx: Kysely<Database>,
  options: { environmentId: string; workerId: string; tasks: string[]; max: number; leaseMs: number; now: Date },
): Promise<ClaimedRow[]> {
  const { environmentId, tasks, now } = options;
  // The dequeue contract guarantees both.
  if (tasks.length === 0 || options.max < 1) throw new Error("claimRuns needs at least one task and max >= 1");
  const taskList = sql`${tasks}::text[]`;
  const leaseUntil = new Date(now.getTime() + options.leaseMs);

  // At most `max` queues, so each one locked (and so moved to the back of the rotation) gets at
  // least one run's share. Unlimited queues get their even share of `max` (the limit of `picked`),
  // taking turns by age rank so each gets its oldest runs; limited queues share what is left.
  // Prepared: one text for every call. It names its columns (no `runs.*`), so a column added to
  // runs cannot change a prepared result.
  const { rows } = await sql<ClaimedRow & { limited: LimitedQueue[] | null }>`${sql.raw(PREPARED)}
    with locked as (
      update queues q
      set last_dequeued_at = ${now}
      from (
        select environment_id, name
        from queues
        where environment_id = ${environmentId}
          and not paused
          -- A scalar subquery that stops at the first QUEUED run, not EXISTS: Postgres turns an
          -- EXISTS into a semi-join, and planned it as a hash of every QUEUED run of the
          -- environment (a sequential scan of runs: 14 ms of a claim with 20,000 queued, 1.3 ms so).
          -- One probe of runs_queued per task (an equality, so always an index condition): with
          -- = any(...) Postgres may filter the queue's runs instead, reading another task's backlog.
          and coalesce((
            select true
            from unnest(${taskList}) as served(task)
            cross join lateral (
              select 1 from runs r
              where r.environment_id = queues.environment_id and r.queue = queues.name
                and r.status = 'QUEUED' and r.task_identifier = served.task
              limit 1
            ) found
            limit 1
          ), false)
        order by last_dequeued_at asc nulls first, name
        limit ${Math.min(MAX_QUEUES_PER_CLAIM, options.max)}
        for update skip locked
      ) picked
      where q.environment_id = picked.environment_id and q.name = picked.name
      returning q.name, q.concurrency_limit
    ),
    candidates as (
      select oldest.id, oldest.created_at,
             row_number() over (partition by locked.name order by oldest.created_at, oldest.id) as rn
      from locked
      cross join lateral (
        ${oldestQueued(environmentId, sql`locked.name`, taskList, now, options.max, sql`id, created_at`)}
      ) oldest
      where locked.concurrency_limit is null
    ),
    picked as (
      select id from candidates
      order by rn, created_at, id
      limit (
        select ceil(${options.max}::numeric * count(*) filter (where concurrency_limit is null) / greatest(count(*), 1))::int
        from locked
      )
    ),
    claimed as (
      ${claimUpdate(options.workerId, leaseUntil, now)}
    ),
    events as (
      ${runStatusEventsOf("claimed")}
    ),
    limited as (
      select json_agg(json_build_object('name', name, 'concurrency_limit', concurrency_limit) order by name) as limited
      from locked
      where concurrency_limit is not null
    )
    select claimed.*, limited.limited
    from limited left join claimed on true
    order by claimed.created_at, claimed.id`.execute(trx);

  // One row even when nothing was claimed (the run's columns are then null): it carries `limited`.
  const first = rows[0];
  const claimed: ClaimedRow[] = rows.filter((r) => r.id !== null).map(({ limited: _limited, ...run }) => run);
  const limited = first?.limited ?? [];
  for (const [i, queue] of limited.entries()) {
    const remaining = options.max - claimed.length;
    if (remaining <= 0) break;
    // An even share of what is left for each queue still to visit; later queues get the rest.
    const share = Math.ceil(remaining / (limited.length - i));
    claimed.push(
      ...(trx.isTransaction
        ? await claimFromQueue(trx as Transaction<Database>, options, queue, taskList, share)
        : await transaction(trx, async (own) => {
            const relocked = await relockQueue(own, environmentId, queue.name);
            return relocked ? claimFromQueue(own, options, relocked, taskList, share) : [];
          })),
    );
  }
  return claimed;
}

/**
 * The `limit` oldest unexpired QUEUED runs of the tasks in one queue, locked (`SKIP LOCKED`), as
 * a subquery returning `columns`. `runs_queued` is ordered by queue, task and age, so each task is
 * its own ordered probe that stops after `limit` runs, and the probes are merged by age: a backlog
 * of another task in the queue (or one of the worker's tasks with many runs) is never read.
 * Reading the queue in age order and filtering by task instead would walk past every run of the
 * tasks not served; `task_identifier = any(...)` in one probe would sort all runs of the tasks.
 * Each probe locks up to `limit` runs, so a queue holding several of the tasks may lock a few runs
 * it does not claim until the claim commits: only cancels and idempotency hits ever wait on a
 * queued run's lock, and other claimers skip the queue itself while this claim holds it.
 */
const oldestQueued = (
  environmentId: string,
  queue: RawBuilder<unknown>,
  taskList: RawBuilder<unknown>,
  now: Date,
  limit: number,
  columns: RawBuilder<unknown>,
) => sql`
  select ${columns} from (
    select per_task.*
    from (select distinct task from unnest(${taskList}) as t(task)) served
    cross join lateral (
      select id, concurrency_key, created_at
      from runs
      where environment_id = ${environmentId} and queue = ${queue} and status = 'QUEUED'
        and task_identifier = served.task
        and (expires_at is null or expires_at > ${now})
      order by created_at, id
      limit ${limit}
      for update skip locked
    ) per_task
    order by per_task.created_at, per_task.id
    limit ${limit}
  ) merged`;

/** Moves the runs in `picked` to EXECUTING under this worker's lease (a CTE body). */
const claimUpdate = (workerId: string, leaseUntil: Date, now: Date) => sql`
  update runs
  set status = 'EXECUTING', attempt = runs.attempt + 1, lease_owner = ${workerId}, claim_id = gen_random_uuid()::text,
      lease_expires_at = ${leaseUntil}, started_at = coalesce(runs.started_at, ${now}), updated_at = ${now}
  from picked
  where runs.id = picked.id and runs.status = 'QUEUED'
  returning ${sql.join(CLAIMED_COLUMNS.map((c) => sql.ref(`runs.${c}`)))}`;

/**
 * Takes a limited queue's lock again in a transaction of its own, after the claim that picked it
 * committed (and so let it go): the queue as it is now if this transaction holds it, still limited
 * and not paused. Never waits: a claim holding it is serving it.
 */
async function relockQueue(
  trx: Transaction<Database>,
  environmentId: string,
  name: string,
): Promise<LimitedQueue | undefined> {
  const { rows } = await sql<LimitedQueue>`
    select name, concurrency_limit from queues
    where environment_id = ${environmentId} and name = ${name} and not paused and concurrency_limit is not null
    for update skip locked`.execute(trx);
  return rows[0];
}

/**
 * Claims the oldest runs of one locked, limited queue that fit in each concurrency group's free slots,
 * and records their `run.status` events, in one statement.
 */
async function claimFromQueue(
  trx: Transaction<Database>,
  options: { environmentId: string; workerId: string; leaseMs: number; now: Date },
  queue: LimitedQueue,
  taskList: RawBuilder<unknown>,
  take: number,
): Promise<ClaimedRow[]> {
  const { environmentId, now } = options;
  const scan = Math.max(MIN_SCAN, take * SCAN_FACTOR);
  const leaseUntil = new Date(now.getTime() + options.leaseMs);
  const { rows } = await sql<ClaimedRow>`
    with running as (
      select concurrency_key, count(*)::int as n
      from runs
      where environment_id = ${environmentId} and queue = ${queue.name} and status = 'EXECUTING'
      group by concurrency_key
    ),
    candidates as (
      select id, concurrency_key, created_at,
             row_number() over (partition by concurrency_key order by created_at, id) as rn
      from (
        ${oldestQueued(environmentId, sql`${queue.name}`, taskList, now, scan, sql`id, concurrency_key, created_at`)}
      ) oldest
    ),
    picked as (
      select c.id
      from candidates c
      left join running r on r.concurrency_key is not distinct from c.concurrency_key
      where c.rn + coalesce(r.n, 0) <= ${queue.concurrency_limit}::int
      order by c.created_at, c.id
      limit ${take}
    ),
    claimed as (
      ${claimUpdate(options.workerId, leaseUntil, now)}
    ),
    events as (
      ${runStatusEventsOf("claimed")}
    )
    select * from claimed
    order by created_at, id`.execute(trx);
  return rows;
}
