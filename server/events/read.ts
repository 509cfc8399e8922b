import { type Kysely, sql } from "kysely";
import type { Database } from "../../db/schema.js";
import { encodePosition, maxPosition, type Position } from "./position.js";

/** Which events a read covers: always one environment, optionally one batch or one run. */
export interface EventScope {
  environmentId: string;
  batchId?: string;
  runId?: string;
}

export interface StoredEvent {
  position: Position;
  /** `encodePosition(position)`: the id clients track. */
  id: string;
  environmentId: string;
  batchId: string | null;
  runId: string | null;
  type: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

export interface EventPage {
  events: StoredEvent[];
  /** Resume the next read here: every event of the scope up to it has been returned. */
  next: Position;
  /** More events are already readable (the page was full). */
  more: boolean;
  /**
   * Committed events of the scope exist beyond `next` that are held back because an older
   * transaction is still running; read again shortly.
   */
  pending: boolean;
}

const scopeFilter = (alias: string, scope: EventScope) =>
  sql.join(
    [
      sql`${sql.ref(`${alias}.environment_id`)} = ${scope.environmentId}`,
      ...(scope.batchId !== undefined ? [sql`${sql.ref(`${alias}.batch_id`)} = ${scope.batchId}`] : []),
      ...(scope.runId !== undefined ? [sql`${sql.ref(`${alias}.run_id`)} = ${scope.runId}`] : []),
    ],
    sql` and `,
  );

/**
 * The readable horizon as a CTE `horizon(xmin)`: the oldest transaction still running that could
 * write to this database's events, or, with none, the next transaction id. Transaction ids are
 * cluster-wide, so `pg_snapshot_xmin` would also wait for transactions of other databases on the
 * same server (a migration, a bulk load, another service's long report), which can never write
 * here, and live delivery stalled for as long as they ran. Running ids that pg_stat_activity
 * reports as another database's are skipped; an id it does not report (no privilege to see it,
 * a prepared transaction) is still waited for, so the horizon is never later than it must be.
 * A database's own long transactions still hold it back: that is what keeps the order exact.
 */
const HORIZON = sql`
  snap as (select pg_current_snapshot() as s),
  horizon as (
    select coalesce(
      (
        select min(x) from snap, pg_snapshot_xip(snap.s) x
        where x::xid not in (
          select a.backend_xid from pg_stat_activity a
          where a.backend_xid is not null
            and a.datid is distinct from (select oid from pg_database where datname = current_database())
        )
      ),
      (select pg_snapshot_xmax(snap.s) from snap)
    ) as xmin
  )
`;

/**
 * Events of the scope after `after`, in order. Only events of transactions older than every
 * transaction still running here are returned (`HORIZON`), so a later read can never find an
 * event that sorts before one already returned. One statement, so the horizon and the rows come
 * from the same snapshot.
 */
export async function readEvents(
  db: Kysely<Database>,
  scope: EventScope,
  after: Position,
  limit: number,
): Promise<EventPage> {
  const afterTx = after.tx.toString();
  const afterId = after.id.toString();
  const { rows } = await sql<{
    xmin: string;
    pending: boolean;
    id: string | null;
    tx_id: string | null;
    batch_id: string | null;
    run_id: string | null;
    type: string | null;
    data: unknown;
    created_at: Date | null;
  }>`
    with ${HORIZON},
    held as (
      select exists (
        select 1 from events p, horizon h
        where ${scopeFilter("p", scope)} and p.tx_id >= h.xmin and (p.tx_id, p.id) > (${afterTx}::xid8, ${afterId}::bigint)
      ) as pending
    )
    select h.xmin::text as xmin, held.pending, e.id::text as id, e.tx_id::text as tx_id, e.batch_id, e.run_id, e.type, e.data, e.created_at
    from horizon h cross join held
    left join lateral (
      select * from events e
      where ${scopeFilter("e", scope)} and e.tx_id < h.xmin and (e.tx_id, e.id) > (${afterTx}::xid8, ${afterId}::bigint)
      order by e.tx_id, e.id
      limit ${limit}
    ) e on true
  `.execute(db);
  const first = rows[0]!;
  const events: StoredEvent[] = [];
  for (const r of rows) {
    if (r.id === null) continue;
    const position = { tx: BigInt(r.tx_id!), id: BigInt(r.id) };
    events.push({
      position,
      id: encodePosition(position),
      environmentId: scope.environmentId,
      batchId: r.batch_id,
      runId: r.run_id,
      type: r.type!,
      data: parseData(r.data),
      createdAt: r.created_at!,
    });
  }
  const more = events.length === limit;
  // A full page stops at its last event; otherwise everything before the horizon has been seen.
  const next = more ? events[events.length - 1]!.position : maxPosition(after, { tx: BigInt(first.xmin), id: 0n });
  return { events, next, more, pending: first.pending };
}

/** The position before which every event now readable lies: where a fresh subscriber starts. */
export async function currentHorizon(db: Kysely<Database>): Promise<Position> {
  const { rows } = await sql<{ xmin: string }>`with ${HORIZON} select xmin::text as xmin from horizon`.execute(db);
  return { tx: BigInt(rows[0]!.xmin), id: 0n };
}

// pg returns jsonb parsed; PGlite too. A string means JSON text stored in a json-typed driver path.
function parseData(data: unknown): Record<string, unknown> {
  if (typeof data === "string") {
    try {
      return JSON.parse(data) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
  return data !== null && typeof data === "object" ? (data as Record<string, unknown>) : {};
}

export { encodePosition };
