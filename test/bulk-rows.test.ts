import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bulkRows } from "../db/bulk-rows.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

const COLUMNS = [
  ["id", "integer"],
  ["label", "text"],
  ["flag", "boolean"],
  ["at", "timestamptz"],
  ["tags", "text[]"],
  ["meta", "jsonb"],
] as const;

let salvo: TestSalvo;
const table = `bulk_rows_${process.pid}`;
beforeAll(async () => {
  salvo = await startTestSalvo();
  await sql`create table ${sql.table(table)} (id integer, label text, flag boolean, at timestamptz, tags text[], meta jsonb)`.execute(
    salvo.deps.db,
  );
});
afterAll(async () => {
  await sql`drop table if exists ${sql.table(table)}`.execute(salvo.deps.db);
  await salvo.close();
});

async function roundTrip(rows: Record<string, unknown>[]) {
  await sql`truncate ${sql.table(table)}`.execute(salvo.deps.db);
  await sql`insert into ${sql.table(table)} (id, label, flag, at, tags, meta) ${bulkRows(COLUMNS, rows)}`.execute(
    salvo.deps.db,
  );
  const { rows: read } = await sql<{
    id: number;
    label: string | null;
    flag: boolean | null;
    at: Date | null;
    tags: string[] | null;
    meta: unknown;
  }>`
    select * from ${sql.table(table)} order by id`.execute(salvo.deps.db);
  return read.map((r) => ({ ...r, at: r.at === null ? null : new Date(r.at).toISOString() }));
}

describe("bulkRows", () => {
  it("writes constant columns once and varying ones per row, with the same result", async () => {
    const at = "2026-11-23T10:00:00.000Z";
    const rows = [
      { id: 1, label: "same", flag: true, at, tags: ["a"], meta: { k: 1 } },
      { id: 2, label: "same", flag: true, at, tags: [], meta: null },
      { id: 3, label: "same", flag: true, at, tags: ["b", "c"], meta: { k: [2] } },
    ];
    expect(await roundTrip(rows)).toEqual(rows);
    const built = sql`${bulkRows(COLUMNS, rows)}`.compile(salvo.deps.db);
    // label, flag and at are the same in every row: scalar parameters, not recordset columns.
    expect(built.sql).toContain("as t(id integer, tags text[], meta jsonb)");
  });

  it("treats a column null in every row as a constant null, and keeps nulls among values", async () => {
    const rows = [
      { id: 1, label: null, flag: false, at: null, tags: ["x"], meta: null },
      { id: 2, label: "b", flag: null, at: null, tags: ["y"], meta: null },
    ];
    expect(await roundTrip(rows)).toEqual(rows);
  });

  it("writes as many rows as given when every column is constant", async () => {
    const rows = Array.from({ length: 3 }, () => ({ id: 7, label: "x", flag: true, at: null, tags: null, meta: null }));
    expect(await roundTrip(rows)).toHaveLength(3);
  });
});
