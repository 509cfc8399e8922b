/**
 * Points where a test holds a transaction open to force one interleaving of two requests (see
 * test/concurrency-*.test.ts), or where the fan-out bench times the server's side. Test- and
 * bench-only: nothing else sets them, and an unset hook costs one property read.
 */
import type { Transaction } from "kysely";
import type { Database } from "../db/schema.js";

export const testHooks: {
  /** Inside a batch's chunk transaction, after its runs exist (and the existing runs its items resolved to are locked). */
  afterRunsCreated?: (batchId: string, trx: Transaction<Database>) => Promise<void>;
  /** After a subscription message was handed to its subscriber's socket (bench/fanout.ts: the server's share of the latency). */
  afterSseMessageWritten?: (message: unknown) => void;
} = {};
