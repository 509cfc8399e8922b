import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";

/**
 * A batch's stream lock: a transaction-scoped advisory lock that a chunk of the batch's items
 * holds from its first statement to its commit, so chunks of concurrent streams of one batch are
 * written one at a time. It is not the batch row's lock: a chunk locks its runs first and the
 * batch row last (docs/ARCHITECTURE.md, "Lock order"), while the row lock is what completions
 * need to count.
 */
const key = (batchId: string) => sql`hashtextextended(${`salvo.batch-stream:${batchId}`}, 0)`;

export async function lockBatchStream(trx: Transaction<Database>, batchId: string) {
  await sql`select pg_advisory_xact_lock(${key(batchId)})`.execute(trx);
}

/** The same lock without waiting, as a condition (true: taken, held to commit); for sweeps that skip busy batches. */
export const tryLockBatchStream = (batchIdColumn: ReturnType<typeof sql.ref>) =>
  sql<boolean>`pg_try_advisory_xact_lock(hashtextextended('salvo.batch-stream:' || ${batchIdColumn}, 0))`;
