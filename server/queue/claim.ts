import { sql, type Transaction } from "kysely";
import type { Database, RunRow } from "../../db/schema.js";
import { recordTransitions } from "../runs/transitions.js";

interface LockedQueue {
  name: string;
  concurrency_limit: number | null;
}

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
 */
export async function claimRuns(
  trx: Transaction<Database>,
  options: { environmentId: string; workerId: string; tasks: string[]; max: number; leaseMs: number; now: Date },
): Promise<RunRow[]> {
  const { environmentId, tasks, now } = options;
  if (tasks.length === 0 || options.max <= 0) return [];
  const taskList = sql.join(tasks);

  const { rows: queues } = await sql<LockedQueue>`
    select q.name, q.concurrency_limit
    from queues q
    where q.environment_id = ${environmentId}
      and not q.paused
      and exists (
        select 1 from runs r
        where r.environment_id = q.environment_id and r.queue = q.name
          and r.status = 'QUEUED' and r.task_identifier in (${taskList})
      )
    order by q.last_dequeued_at asc nulls first, q.name
    limit ${MAX_QUEUES_PER_CLAIM}
    for update skip locked`.execute(trx);

  const claimedIds: string[] = [];
  const served: string[] = [];
  for (const [i, queue] of queues.entries()) {
    const remaining = options.max - claimedIds.length;
    if (remaining <= 0) break;
    // An even share of what is left for each queue still to visit; later queues get the rest.
    const share = Math.ceil(remaining / (queues.length - i));
    const ids = await pickFromQueue(trx, environmentId, queue, taskList, share, now);
    if (ids.length > 0) {
      claimedIds.push(...ids);
      served.push(queue.name);
    }
  }
  if (claimedIds.length === 0) return [];

  const leaseUntil = new Date(now.getTime() + options.leaseMs);
  const claimed = await trx
    .updateTable("runs")
    .set((eb) => ({
      status: "EXECUTING",
      attempt: eb("attempt", "+", 1),
      lease_owner: options.workerId,
      lease_expires_at: leaseUntil,
      started_at: eb.fn.coalesce("started_at", eb.val(now)),
      updated_at: now,
    }))
    .where("id", "in", claimedIds)
    .where("status", "=", "QUEUED")
    .returningAll()
    .execute();
  await trx
    .updateTable("queues")
    .set({ last_dequeued_at: now })
    .where("environment_id", "=", environmentId)
    .where("name", "in", served)
    .execute();
  await recordTransitions(trx, claimed, now);
  return claimed;
}

/** The oldest runs of one (locked) queue that fit in each concurrency group's free slots. */
async function pickFromQueue(
  trx: Transaction<Database>,
  environmentId: string,
  queue: LockedQueue,
  taskList: ReturnType<typeof sql.join>,
  take: number,
  now: Date,
): Promise<string[]> {
  const scan = Math.max(MIN_SCAN, take * SCAN_FACTOR);
  const { rows } = await sql<{ id: string }>`
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
        select id, concurrency_key, created_at
        from runs
        where environment_id = ${environmentId} and queue = ${queue.name} and status = 'QUEUED'
          and task_identifier in (${taskList})
          and (expires_at is null or expires_at > ${now})
        order by created_at, id
        limit ${scan}
      ) oldest
    )
    select c.id
    from candidates c
    left join running r on r.concurrency_key is not distinct from c.concurrency_key
    where ${queue.concurrency_limit}::int is null or c.rn + coalesce(r.n, 0) <= ${queue.concurrency_limit}::int
    order by c.created_at, c.id
    limit ${take}`.execute(trx);
  return rows.map((r) => r.id);
}
