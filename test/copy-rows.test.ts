import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyRows, copyText } from "../db/copy-rows.js";
import { isUniqueViolation } from "../db/errors.js";
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
const table = `copy_rows_${process.pid}`;
beforeAll(async () => {
  salvo = await startTestSalvo();
  await sql`create table ${sql.table(table)} (id integer primary key, label text, flag boolean, at timestamptz, tags text[], meta jsonb)`.execute(
    salvo.deps.db,
  );
});
afterAll(async () => {
  await sql`drop table if exists ${sql.table(table)}`.execute(salvo.deps.db);
  await salvo.close();
});

async function readBack() {
  const { rows } = await sql<{
    id: number;
    label: string | null;
    flag: boolean | null;
    at: Date | null;
    tags: string[] | null;
    meta: unknown;
  }>`select * from ${sql.table(table)} order by id`.execute(salvo.deps.db);
  return rows.map((r) => ({ ...r, at: r.at === null ? null : new Date(r.at).toISOString() }));
}

describe("copyRows", () => {
  it("writes every value exactly, whatever COPY's text format or an array literal would read specially", async () => {
    await sql`truncate ${sql.table(table)}`.execute(salvo.deps.db);
    const at = "2026-11-23T10:00:00.000Z";
    const rows = [
      {
        id: 1,
        label: "tab\there, newline\nthere, return\r, backslash \\ and \\N",
        flag: true,
        at,
        tags: ["a"],
        meta: '{"k":1}',
      },
      {
        id: 2,
        label: "\\N",
        flag: false,
        at,
        tags: ['quote " in', "back\\slash", "comma,brace{}", "", "NULL", " padded "],
        meta: null,
      },
      { id: 3, label: null, flag: null, at: null, tags: [], meta: '{"s":"tab\\tand \\\\ and \\u00e9 é","n":[1,2]}' },
      { id: 4, label: "", flag: true, at, tags: ["multi\nline\ttag"], meta: "[]" },
    ];
    await salvo.deps.db.transaction().execute((trx) => copyRows(trx, table, COLUMNS, copyText(COLUMNS, rows)));
    expect(await readBack()).toEqual(
      rows.map((r) => ({ ...r, meta: r.meta === null ? null : (JSON.parse(r.meta) as unknown) })),
    );
  });

  it("fails whole on a unique violation (23505), leaving the transaction usable after a rollback to its savepoint", async () => {
    await sql`truncate ${sql.table(table)}`.execute(salvo.deps.db);
    const row = (id: number) => ({ id, label: `row ${id}`, flag: true, at: null, tags: [], meta: null });
    await copyRows(salvo.deps.db, table, COLUMNS, copyText(COLUMNS, [row(2)]));
    let caught: unknown;
    await salvo.deps.db.transaction().execute(async (trx) => {
      await sql`savepoint s`.execute(trx);
      try {
        await copyRows(trx, table, COLUMNS, copyText(COLUMNS, [row(1), row(2), row(3)]));
      } catch (err) {
        caught = err;
        await sql`rollback to savepoint s`.execute(trx);
      }
      await copyRows(trx, table, COLUMNS, copyText(COLUMNS, [row(4)]));
    });
    expect(isUniqueViolation(caught)).toBe(true);
    expect((await readBack()).map((r) => r.id)).toEqual([2, 4]);
  });
});
