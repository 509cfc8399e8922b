import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";

/**
 * Worker presence: each worker holds one long-lived stream (`worker.presence`) open to a server
 * for as long as it runs. A process that dies, `kill -9` included, has its sockets closed by the
 * kernel, so the server sees the stream close at once and records `disconnected_at`; the lease
 * sweep then reclaims the worker's runs after `SALVO_WORKER_DISCONNECT_GRACE_MS` unless the
 * worker connected again meanwhile. A live worker keeps its stream open however long (or
 * CPU-bound) its handlers run, so a slow handler never loses its run this way; a worker cut off
 * without the server seeing a close (network partition, a server that crashed) is left to the
 * lease, as before.
 *
 * Each stream has its own connection id, so the close of a stream the worker has since replaced
 * (a reconnect racing the old socket's close) marks nothing.
 */
export class WorkerPresence {
  #closing = false;
  readonly #open = new Set<() => void>();

  /** `warn` logs a disconnect that could not be recorded. */
  constructor(private readonly warn: (fields: object, message: string) => void) {}

  /** Holds one presence stream until the worker goes (`signal`) or this server closes. */
  async *hold(
    db: Kysely<Database>,
    environmentId: string,
    workerId: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<never, void> {
    const connectionId = randomBytes(8).toString("hex");
    const worker = () =>
      db.updateTable("workers").where("id", "=", workerId).where("environment_id", "=", environmentId);
    await worker().set({ connection_id: connectionId, disconnected_at: null, last_seen_at: new Date() }).execute();
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    this.#open.add(end);
    try {
      if (!signal?.aborted && !this.#closing) {
        signal?.addEventListener("abort", end, { once: true });
        await ended;
      }
    } finally {
      this.#open.delete(end);
      // A server going away is not the worker going away: it reconnects to another (or this one
      // restarted), and its runs stay with it.
      if (!this.#closing) {
        await worker()
          .set({ disconnected_at: new Date() })
          .where("connection_id", "=", connectionId)
          .execute()
          .catch((err: Error) =>
            this.warn({ workerId, err }, "worker presence: recording the worker's disconnect failed"),
          );
      }
    }
  }

  /** The server is shutting down: end every stream without counting it as a disconnect. */
  close(): void {
    this.#closing = true;
    for (const end of this.#open) end();
  }
}
