import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";

/**
 * The ids of the runs a batch created, as a subquery: its ledger items that name a run that is
 * not a reference to another run (`cached`). The ledger's primary key starts with the batch, so
 * this is a range scan; runs themselves carry no index by batch.
 */
export function ownRunIds(db: Kysely<Database>, batchId: string) {
  return db
    .selectFrom("batch_items")
    .select("run_id")
    .where("batch_id", "=", batchId)
    .where("cached", "=", false)
    .where("run_id", "is not", null);
}
