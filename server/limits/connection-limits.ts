import type { ServerOptions } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config.js";

/**
 * Slow and stalled clients, and too many of them.
 *
 * - Idle timeout (`SALVO_IDLE_TIMEOUT_MS`, Fastify's `connectionTimeout`, a per-socket timer):
 *   a connection on which nothing was read or written for that long is destroyed. Every byte
 *   either way restarts it, so a long NDJSON stream that keeps sending lives as long as it
 *   sends, an SSE subscription lives on its pings (every 10 s), and a worker's dequeue waits at
 *   most `SALVO_DEQUEUE_MAX_WAIT_MS` (config.ts requires the timeout to be longer). Node's own
 *   `requestTimeout` would cut whole requests, long streams included: Fastify leaves it off.
 * - Headers timeout (`SALVO_HEADERS_TIMEOUT_MS`, Node's `headersTimeout`): headers trickling in
 *   a byte at a time never look idle, so they get a deadline of their own. Node checks it on an
 *   interval, made short enough that the deadline holds to within a second.
 */
export function connectionOptions(config: Config): { connectionTimeout: number; http: ServerOptions } {
  const { idleTimeoutMs, headersTimeoutMs } = config.connections;
  return {
    connectionTimeout: idleTimeoutMs,
    http: {
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, Math.ceil(headersTimeoutMs / 4)),
    },
  };
}

/** At most `SALVO_MAX_CONNECTIONS` open connections: Node closes the ones beyond as they arrive. */
export function capConnections(app: FastifyInstance, config: Config) {
  app.server.maxConnections = config.connections.maxConnections;
}
