import { sql } from "kysely";
import { badRequest } from "./errors.js";

/** Keyset cursors over (created_at desc, id desc): stable while rows are being added. */
export interface Cursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.createdAt.toISOString()}|${c.id}`).toString("base64url");
}

export function decodeCursor(text: string): Cursor {
  const [iso, id] = Buffer.from(text, "base64url").toString("utf8").split("|");
  const createdAt = new Date(iso ?? "");
  if (!id || Number.isNaN(createdAt.getTime())) throw badRequest("Invalid cursor");
  return { createdAt, id };
}

/**
 * The keyset condition "comes after the cursor's row" for a listing ordered by (created_at desc,
 * id desc). The boundary is read back from the cursor's own row rather than from the cursor's
 * timestamp: Postgres keeps microseconds, a JS Date only milliseconds, so comparing with the
 * decoded Date skipped rows created within the same millisecond as the last row of a page.
 */
export function afterCursor(table: "batches" | "runs", environmentId: string, cursor: Cursor) {
  // Looked up in the caller's environment only: another environment's row (or a forged id) is no
  // row at all, an empty page, so a cursor tells nothing about other tenants.
  return sql<boolean>`(created_at, id) < (select b.created_at, b.id from ${sql.table(table)} as b where b.id = ${cursor.id} and b.environment_id = ${environmentId})`;
}

/** The keyset condition "comes before the cursor's row" (newer), as `afterCursor` reads it. */
export function beforeCursor(table: "batches" | "runs", environmentId: string, cursor: Cursor) {
  return sql<boolean>`(created_at, id) > (select b.created_at, b.id from ${sql.table(table)} as b where b.id = ${cursor.id} and b.environment_id = ${environmentId})`;
}
