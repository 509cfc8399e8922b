import type { PGlite, Transaction as PGliteTransaction } from "@electric-sql/pglite";
import { CompiledQuery } from "kysely";
import type pg from "pg";
import type { BulkColumn } from "./bulk-rows.js";

/**
 * Bulk inserts as `COPY ... FROM STDIN` inside a Kysely transaction.
 *
 * Why: Postgres spends less on a COPY of rows than on an `INSERT ... SELECT` from
 * `json_to_recordset` of the same rows (the JSON text is validated when bound, then parsed again
 * into records): 0.65-0.86x the time for 1,000 runs and 0.72-0.79x for 3,000, per pair on the
 * runs table with its indexes; through the server, Postgres's CPU per one-shot item and per
 * streamed item fell by 18-19 %. Kysely sends statements as text with parameters, so a COPY
 * travels as a marked statement whose one parameter is the data; the connection's client
 * recognises the mark and sends the data (`copyFromStdin` for node-postgres, `copyAwarePglite` for
 * PGlite, which reads COPY data from a blob). The statement fails like an INSERT would (a unique index
 * objecting is a 23505), and inserts nothing when it fails.
 */
export const COPY_MARK = "/* copy from stdin */ ";

const escapeText = (s: string) =>
  /[\\\t\n\r]/.test(s)
    ? s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"))
    : s;

/** A text[] value as an array literal, every element quoted (so commas, braces and spaces are data). */
const arrayField = (values: unknown) =>
  escapeText(
    `{${(values as unknown[]).map((v) => (v === null || v === undefined ? "NULL" : `"${String(v).replace(/[\\"]/g, "\\$&")}"`)).join(",")}}`,
  );

/** Any other value: strings as they are (a jsonb column takes its JSON text), objects as JSON. */
const scalarField = (value: unknown) =>
  typeof value === "string"
    ? escapeText(value)
    : typeof value === "object"
      ? escapeText(JSON.stringify(value))
      : String(value);

/**
 * `rows` as COPY text: one line a row, fields in `columns` order, tab-separated, `\N` for null.
 * Values are JSON-ready as for `bulkRows` (dates as ISO text). A field equal to the same column's
 * in the row before (a chunk's batch, environment, task, timestamps) reuses its text. Built as
 * one string by appending, with each column's encoder chosen once: as fast as JSON.stringify of
 * the same rows (~1.3 ms for 1,000 runs), where joining arrays of fields took 3-10 times that.
 */
export function copyText(columns: readonly BulkColumn[], rows: readonly Record<string, unknown>[]): string {
  const names = columns.map(([name]) => name);
  const encode = columns.map(([, type]) => (type.endsWith("[]") ? arrayField : scalarField));
  const lastValue: unknown[] = names.map(() => undefined);
  const lastText: string[] = names.map(() => "");
  let text = "";
  for (const row of rows) {
    for (let c = 0; c < names.length; c++) {
      const value = row[names[c]!];
      let field: string;
      if (value === null || value === undefined) field = "\\N";
      else if (value === lastValue[c]) field = lastText[c]!;
      else {
        field = encode[c]!(value);
        lastValue[c] = value;
        lastText[c] = field;
      }
      text += c === 0 ? field : `\t${field}`;
    }
    text += "\n";
  }
  return text;
}

/** Inserts COPY text into `table`, in the transaction (or connection) `db` stands for. */
export async function copyRows(
  db: { executeQuery(query: CompiledQuery): Promise<unknown> },
  table: string,
  columns: readonly BulkColumn[],
  text: string,
): Promise<void> {
  const names = columns.map(([name]) => name).join(", ");
  await db.executeQuery(CompiledQuery.raw(`${COPY_MARK}copy ${table} (${names}) from stdin`, [text]));
}

/**
 * node-postgres: the marked statement run as `COPY ... FROM STDIN`, its data sent right behind the
 * query instead of after the server's CopyInResponse, so a COPY costs one round trip like any
 * statement. Safe by the protocol: if the COPY fails before or while reading, the server answers
 * the error and ReadyForQuery, and ignores the copy messages that still arrive.
 */
class CopyIn {
  callback?: (err: Error | null, result?: { command: string; rowCount: number; rows: never[] }) => void;
  private rowCount = 0;

  constructor(
    readonly text: string,
    private readonly data: Buffer,
  ) {}

  submit(connection: CopyConnection) {
    connection.query(this.text);
    connection.sendCopyFromChunk(this.data);
    connection.endCopyFrom();
  }
  handleCopyInResponse() {}
  handleCommandComplete(msg: { text?: string }) {
    this.rowCount = Number(/\d+$/.exec(msg.text ?? "")?.[0] ?? 0);
  }
  /** The client stops routing messages here after an error: it is this COPY's last word. */
  handleError(err: Error) {
    this.callback?.(err);
  }
  handleReadyForQuery() {
    this.callback?.(null, { command: "COPY", rowCount: this.rowCount, rows: [] });
  }
  handleRowDescription() {}
  handleDataRow() {}
  handleEmptyQuery() {}
  handlePortalSuspended() {}
  handleCopyData() {}
}

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

export function copyFromStdin(client: pg.Client, statement: string, text: string) {
  return new Promise<{ command: string; rowCount: number; rows: never[] }>((resolve, reject) => {
    const copy = new CopyIn(statement.slice(COPY_MARK.length), Buffer.from(text));
    copy.callback = (err, result) => (err ? reject(err) : resolve(result!));
    client.query(copy as unknown as pg.QueryConfig);
  });
}

type PGliteQueryable = Pick<PGlite, "query">;

/** PGlite reads COPY data from a blob (`from '/dev/blob'`), not from stdin. */
function copyAwareQuery<T extends PGliteQueryable>(target: T): T["query"] {
  return ((statement: string, params?: unknown[], options?: object) => {
    if (typeof statement === "string" && statement.startsWith(COPY_MARK)) {
      const fromBlob = statement.slice(COPY_MARK.length).replace(/ from stdin$/, " from '/dev/blob'");
      return target.query(fromBlob, [], { ...options, blob: new Blob([String(params?.[0] ?? "")]) });
    }
    return target.query(statement, params, options);
  }) as T["query"];
}

/**
 * `client` with marked COPY statements handled, in and out of transactions (Kysely's PGlite
 * dialect runs a transaction's statements on the `tx` PGlite hands its callback). Everything else
 * is the client's own, called on the client itself (PGlite keeps private fields).
 */
export function copyAwarePglite(client: PGlite): PGlite {
  const query = copyAwareQuery(client);
  const transaction: PGlite["transaction"] = (callback) =>
    client.transaction((tx) =>
      callback(
        new Proxy(tx, {
          get: (t, key) => (key === "query" ? copyAwareQuery(t) : bindOwn(t, key)),
        }) as PGliteTransaction,
      ),
    );
  return new Proxy(client, {
    get: (target, key) => (key === "query" ? query : key === "transaction" ? transaction : bindOwn(target, key)),
  });
}

function bindOwn(target: object, key: string | symbol) {
  const value = Reflect.get(target, key, target);
  return typeof value === "function" ? value.bind(target) : value;
}
