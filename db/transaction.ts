import type { Kysely, Transaction } from "kysely";
import type { Database } from "./schema.js";

/** Postgres gave up on the transaction to break a deadlock (40P01) or a serialization race (40001). */
export function isLostRace(err: unknown): boolean {
  const code = codeOf(err);
  return code === "40P01" || code === "40001";
}

/** The SQLSTATE of a database error, looked for along its causes. */
function codeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = typeof e === "object" ? (e as { code?: unknown }).code : undefined;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Races lost (and retried) in this process since it started: the stress tests expect none. */
export const lostRaces = { deadlocks: 0, serializationFailures: 0 };

/** What to do once each open transaction commits (`afterCommit`), by transaction. */
const commitHooks = new WeakMap<Transaction<Database>, (() => void)[]>();

/**
 * Runs `effect` once `trx` has committed, and never if it rolls back (or loses a race and is
 * tried again: the next try registers its own). For effects outside the database that must match
 * what was committed, exactly (metrics counters). `trx` must be one `transaction()` opened; in
 * any other transaction the effect is dropped. An effect that throws is ignored.
 */
export function afterCommit(trx: Transaction<Database>, effect: () => void): void {
  commitHooks.get(trx)?.push(effect);
}

/** Tries of one transaction that keeps losing races, and the backoff between them. */
const MAX_TRIES = 5;
const BASE_DELAY_MS = 5;

/**
 * Runs `work` in a transaction, and runs it again (at most MAX_TRIES in all, after a short random
 * backoff) when Postgres aborts it to break a deadlock or a serialization race. Such an abort
 * rolled everything back, so trying again is always safe; any other error is the caller's.
 * `work` must not have effects outside the transaction before it returns (wake-ups, answers):
 * those belong after this call.
 *
 * The lock order (docs/ARCHITECTURE.md) keeps deadlocks out of Salvo's own statements; this
 * covers what is left (a deadlock with an operator's session, a future statement that slips), so
 * it never reaches a client as an error.
 */
export async function transaction<T>(
  db: Kysely<Database>,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const effects: (() => void)[] = [];
    let result: T;
    try {
      result = await db.transaction().execute((trx) => {
        commitHooks.set(trx, effects);
        return work(trx);
      });
    } catch (err) {
      if (!isLostRace(err)) throw err;
      if (codeOf(err) === "40P01") lostRaces.deadlocks++;
      else lostRaces.serializationFailures++;
      if (attempt >= MAX_TRIES) throw err;
      // Full jitter: the transactions that collided should not collide again in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * BASE_DELAY_MS * 2 ** attempt));
      continue;
    }
    for (const effect of effects) {
      try {
        effect();
      } catch {
        // An observer's failure is not the transaction's: it committed.
      }
    }
    return result;
  }
}
