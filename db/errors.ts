/** True for Postgres' unique_violation (23505), from node-postgres or PGlite alike. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";
}

/**
 * SQLSTATE classes and codes that say "try again": the connection dropped or could not be made
 * (08…), the server is shutting down or out of connections (57P01-57P03, 53300), or the
 * transaction lost a serialization race or a deadlock (40001, 40P01), a statement ran past
 * `statement_timeout` (57014). Plus the socket-level errors node-postgres surfaces without a
 * SQLSTATE, a statement the server never answered (a frozen server: `query_timeout`), and this
 * server shutting down (db/gate.ts).
 */
const TRANSIENT_CODES = new Set([
  "40001",
  "40P01",
  "53300",
  "57014",
  "57P01",
  "57P02",
  "57P03",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "SALVO_CLOSING",
]);

export function isTransientDbError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = typeof e === "object" ? (e as { code?: unknown }).code : undefined;
    if (typeof code === "string" && (TRANSIENT_CODES.has(code) || code.startsWith("08"))) return true;
    if (
      e instanceof Error &&
      /Connection terminated|timeout exceeded when trying to connect|not queryable|Query read timeout/i.test(e.message)
    )
      return true;
  }
  return false;
}
