import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { friendlyId } from "../../shared/ids.js";
import { type BenchItem, TASK } from "../workload.js";

/**
 * The floor: the rows Salvo writes, sent with one `COPY ... FROM STDIN` into a table shaped like
 * Salvo's `runs` (same columns, same indexes, no foreign keys). Nothing is faster at getting rows
 * into Postgres, so Salvo's distance to it is the cost of everything Salvo adds.
 */
const DDL = `
create table if not exists runs_floor (
  id text primary key, environment_id text not null, task_identifier text not null, status text not null,
  payload text, payload_type text not null, queue text not null, concurrency_key text, idempotency_key text,
  idempotency_key_expires_at timestamptz, tags text[] not null default '{}', metadata jsonb, ttl_seconds integer,
  delay_until timestamptz, expires_at timestamptz, attempt integer not null default 0, max_attempts integer,
  batch_id text, batch_index integer, parent_run_id text, resume_parent_on_completion boolean not null default false,
  trigger_function text not null, is_test boolean not null default false, lease_owner text, lease_expires_at timestamptz,
  output text, output_type text, error jsonb, created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(), started_at timestamptz, finished_at timestamptz, expired_at timestamptz
);
create unique index if not exists runs_floor_idempotency_key on runs_floor (environment_id, task_identifier, idempotency_key) where idempotency_key is not null;
create index if not exists runs_floor_listing on runs_floor (environment_id, created_at desc, id desc);
create index if not exists runs_floor_queued on runs_floor (environment_id, queue, created_at) where status = 'QUEUED';
`;

const COLUMNS =
  "id, environment_id, task_identifier, status, payload, payload_type, queue, idempotency_key, idempotency_key_expires_at, tags, batch_id, batch_index, trigger_function, created_at, updated_at";

/** COPY text format: backslash, tab, newline and carriage return are escaped. */
const esc = (s: string) =>
  s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));

export class CopyFloor {
  private constructor(private readonly client: pg.Client) {}

  static async open(databaseUrl: string): Promise<CopyFloor> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(DDL);
    return new CopyFloor(client);
  }

  /**
   * One COPY of `count` rows built from `item(i)`, generated as the COPY consumes them. Ids are
   * random friendly ids like Salvo's, so the primary key sees the same random inserts.
   */
  async copy(batchId: string, count: number, item: (i: number) => BenchItem): Promise<void> {
    const now = new Date().toISOString();
    const expires = new Date(Date.now() + 30 * 86400_000).toISOString();
    const rows = (function* () {
      const lines: string[] = [];
      for (let i = 0; i < count; i++) {
        const it = item(i);
        lines.push(
          [
            friendlyId("run"),
            "env_bench",
            TASK,
            "QUEUED",
            esc(JSON.stringify(it.payload)),
            "application/json",
            `task/${TASK}`,
            esc(it.key),
            expires,
            `{${it.tags.join(",")}}`,
            batchId,
            String(i),
            "batchTrigger",
            now,
            now,
          ].join("\t"),
        );
        if (lines.length === 1000) yield `${lines.splice(0).join("\n")}\n`;
      }
      if (lines.length > 0) yield `${lines.join("\n")}\n`;
    })();
    const stream = this.client.query(copyFrom(`copy runs_floor (${COLUMNS}) from stdin`));
    await pipeline(Readable.from(rows), stream);
  }

  close() {
    return this.client.end();
  }
}
