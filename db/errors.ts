/** True for Postgres' unique_violation (23505), from node-postgres or PGlite alike. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";
}

/**
 * True for Postgres refusing text it cannot store: a NUL character in a text column (22021) or a
 * `\u0000` escape inside jsonb (22P05). JSON allows both, so they come from client input.
 */
export function isUnstorableText(err: unknown): boolean {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return code === "22021" || code === "22P05";
}
