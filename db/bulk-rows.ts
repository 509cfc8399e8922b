import { type RawBuilder, sql } from "kysely";

/** A column of a bulk write: its name and the SQL type its values are cast to. */
export type BulkColumn = readonly [name: string, type: string];

/**
 * Rows as one `SELECT` for `INSERT INTO t (columns) <this>`, with one or two bind parameters per
 * column however many rows there are:
 *
 * - a column whose value is the same primitive in every row (the batch id, the environment, the
 *   creation time, usually the task and queue of a chunk) travels once, as a scalar parameter;
 * - the other columns travel together as one JSON text parameter that `json_to_recordset` turns
 *   back into rows.
 *
 * Why: JSON.stringify is native and fast, where the driver's per-element escaping of array
 * parameters (or tens of thousands of VALUES parameters) costs more than the insert itself; and
 * Postgres spends most of a recordset's parse on per-row field conversion, so a timestamp shared
 * by 1,000 rows is converted once instead of 1,000 times.
 * Values must already be JSON-ready (dates as ISO text); arrays and objects always travel per row.
 */
export function bulkRows(
  columns: readonly BulkColumn[],
  rows: readonly Record<string, unknown>[],
): RawBuilder<unknown> {
  if (rows.length === 0) throw new Error("bulkRows needs at least one row");
  const first = rows[0]!;
  const constant = new Set<string>();
  for (const [name] of columns) {
    const value = first[name] ?? null;
    if (value !== null && typeof value === "object") continue;
    if (rows.every((row) => (row[name] ?? null) === value)) constant.add(name);
  }
  const varying = columns.filter(([name]) => !constant.has(name));
  const select = sql.join(
    columns.map(([name, type]) =>
      constant.has(name) ? sql`${first[name] ?? null}::${sql.raw(type)}` : sql.ref(`t.${name}`),
    ),
  );
  if (varying.length === 0) {
    // Every row is the same: still one row each.
    return sql`select ${select} from generate_series(1, ${rows.length})`;
  }
  const json = JSON.stringify(
    rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [name] of varying) out[name] = row[name] ?? null;
      return out;
    }),
  );
  const record = sql.raw(varying.map(([name, type]) => `${name} ${type}`).join(", "));
  return sql`select ${select} from json_to_recordset(${json}::json) as t(${record})`;
}
