import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { createSalvoClient } from "../../client/index.js";
import { friendlyId } from "../../shared/ids.js";
import type { BenchConfig } from "../config.js";
import { databaseNamed, freshDatabase } from "../databases.js";
import { triggerBatch } from "../salvo-api.js";
import { type SalvoProcess, startSalvoProcess } from "../salvo-server.js";
import { median, timed } from "../stats.js";
import { fmtMs, fmtRatio, markdownTable } from "../table.js";
import { benchItem, runTag, TASK } from "../workload.js";

/** Runs per stored batch, and one in this many stored runs is still QUEUED (of a task nobody claims here). */
const BATCH_SIZE = 1_000;
const QUEUED_EVERY = 100;
const OTHER_TASK = "bench-other-task";
const HISTORY_MS = 30 * 86_400_000;
/** The flat-cost goal: each call on the large database within this factor of the same call on an empty one. */
const GOAL = 1.3;

const log = (msg: string) => console.error(`[bench scenario 6] ${msg}`);

/**
 * Scenario 6: what common calls cost with `runs` runs stored, mostly finished (a month of history,
 * in batches of 1,000 with their ledger items, 1 % still queued for another task), against the same
 * calls on an empty database. Both servers run side by side and the calls alternate between them,
 * so a busy moment of the machine hits both. The large database is built once per bench run with
 * `COPY` (indexes dropped first and built after, as a restore would), then `VACUUM ANALYZE`d.
 */
export async function flatCostsScenario(cfg: BenchConfig): Promise<string> {
  const { runs, reps } = cfg.flat;
  const emptyDb = await freshDatabase(cfg.databaseUrl, "flat_empty");
  const largeDb = cfg.flat.reuse
    ? databaseNamed(cfg.databaseUrl, "flat_large")
    : await freshDatabase(cfg.databaseUrl, "flat_large");
  let buildNote = "reused from an earlier run (`BENCH_FLAT_REUSE=1`)";
  if (!cfg.flat.reuse) {
    // A first start migrates the large database and creates the bench's environment; then the rows.
    const migrate = await startSalvoProcess({ databaseUrl: largeDb, redisUrl: cfg.redisUrl, port: cfg.salvoPort });
    await migrate.stop();
    const built = await timed(() => buildHistory(largeDb, runs));
    buildNote = `${(built.ms / 1000).toFixed(0)} s`;
    log(`built ${runs.toLocaleString("en-US")} runs in ${buildNote}`);
  }

  const empty = await startSalvoProcess({ databaseUrl: emptyDb, redisUrl: cfg.redisUrl, port: cfg.salvoPort });
  const large = await startSalvoProcess({ databaseUrl: largeDb, redisUrl: cfg.redisUrl, port: cfg.salvoPort + 1 });
  try {
    const results = await measure([empty, large], reps);
    const rows = results.map(({ name, ms }) => {
      const [e, l] = [median(ms[0]!), median(ms[1]!)];
      return [name, fmtMs(e), fmtMs(l), fmtRatio(l / e), l / e <= GOAL ? "yes" : "**no**"];
    });
    const plans = await explainPlans(largeDb);
    return [
      `### 6. Flat costs with ${runs.toLocaleString("en-US")} runs stored`,
      "",
      `A month of history built with \`COPY\` (${buildNote}): batches of ${BATCH_SIZE.toLocaleString("en-US")} ` +
        `finished runs with their ledger items, 1 in ${QUEUED_EVERY} runs still queued for another task; then the calls below ` +
        `on it and on an empty database, alternating, median of ${reps} each. Goal: within ${GOAL}×. The queued runs ` +
        `of the other task sit in a queue of their own that the claim's queue look-up must pass over: its plan below ` +
        `shows what that costs.`,
      "",
      markdownTable(["call", "empty ms", `${runs.toLocaleString("en-US")} runs ms`, "ratio", `within ${GOAL}×`], rows),
      "",
      "Plans on the large database (`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)` of the statements behind the calls, as written in `server/`):",
      "",
      ...plans.flatMap(([name, plan]) => [`${name}:`, "", "```", plan, "```", ""]),
    ].join("\n");
  } finally {
    await Promise.allSettled([empty.stop(), large.stop()]);
  }
}

type Call = { name: string; run: (salvo: SalvoProcess, rep: number) => Promise<void> };

async function measure(servers: SalvoProcess[], reps: number): Promise<{ name: string; ms: number[][] }[]> {
  const clients = servers.map((s) => createSalvoClient({ url: s.url, apiKey: s.key }));
  const workerId = `bench-flat-${process.pid}`;
  for (const c of clients) await c.worker.register.mutate({ workerId, tasks: [TASK] });
  const lastBatch = new Map<SalvoProcess, string>();
  const tag = runTag("s6", 0);
  const calls: Call[] = [
    {
      name: "one-shot batch, 1,000 items (`POST /api/v1/tasks/batch`)",
      run: async (salvo, rep) => {
        const items = Array.from({ length: 1_000 }, (_, i) => benchItem(`${tag}-${salvo.url}-${rep}`, i));
        lastBatch.set(salvo, await triggerBatch(salvo, items));
      },
    },
    {
      name: "claim one run (`worker.dequeue`, max 1)",
      run: async (salvo) => {
        const claimed = await clients[servers.indexOf(salvo)]!.worker.dequeue.mutate({
          workerId,
          tasks: [TASK],
          max: 1,
        });
        if (claimed.length !== 1) throw new Error(`dequeue claimed ${claimed.length} runs`);
      },
    },
    {
      name: "batch read, 1,000 runs (`GET /api/v1/batches/{id}`)",
      run: async (salvo) => {
        const res = await fetch(`${salvo.url}/api/v1/batches/${lastBatch.get(salvo)}`, {
          headers: { authorization: `Bearer ${salvo.key}` },
        });
        if (res.status !== 200) throw new Error(`batch read: ${res.status}`);
        await res.arrayBuffer();
      },
    },
    {
      name: "`run.list` first page",
      run: async (salvo) => void (await clients[servers.indexOf(salvo)]!.run.list.query({})),
    },
    {
      name: "`batch.list` first page",
      run: async (salvo) => void (await clients[servers.indexOf(salvo)]!.batch.list.query({})),
    },
  ];
  const ms = calls.map(() => servers.map((): number[] => []));
  // Warm-up: one of each call on each server (connections, prepared plans, caches).
  for (const call of calls) for (const s of servers) await call.run(s, -1);
  for (let rep = 0; rep < reps; rep++) {
    for (const [c, call] of calls.entries()) {
      for (const [i, s] of servers.entries()) ms[c]![i]!.push((await timed(() => call.run(s, rep))).ms);
    }
  }
  return calls.map((call, c) => ({ name: call.name, ms: ms[c]! }));
}

/** COPY text format: backslash, tab, newline and carriage return escaped. */
const esc = (s: string) =>
  s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));

/**
 * Writes `runs` runs, their batches and ledger items into the migrated database at `url`, in the
 * environment the bench's key belongs to. The three tables' indexes and keys are dropped first and
 * built again after (sorting once is far quicker than ten million random index inserts).
 */
async function buildHistory(url: string, runs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("set maintenance_work_mem = '1GB'");
    const tables = ["runs", "batch_items", "batches"];
    const { rows: keys } = await client.query<{ name: string; table: string; def: string }>(
      `select conname as name, conrelid::regclass::text as table, pg_get_constraintdef(oid) as def
       from pg_constraint where contype in ('p', 'u') and conrelid::regclass::text = any($1)`,
      [tables],
    );
    const { rows: indexes } = await client.query<{ name: string; def: string }>(
      `select indexname as name, indexdef as def from pg_indexes
       where schemaname = 'public' and tablename = any($1) and indexname <> all($2)`,
      [tables, keys.map((k) => k.name)],
    );
    for (const k of keys) await client.query(`alter table ${k.table} drop constraint ${k.name}`);
    for (const i of indexes) await client.query(`drop index ${i.name}`);

    const { rows: envs } = await client.query<{ environment_id: string }>("select environment_id from api_keys");
    const env = envs[0]!.environment_id;
    const start = Date.now() - HISTORY_MS - 3_600_000;
    const at = (i: number) => new Date(start + Math.floor((i / runs) * HISTORY_MS)).toISOString();
    const batchCount = Math.ceil(runs / BATCH_SIZE);
    const batchIds = Array.from({ length: batchCount }, () => friendlyId("batch"));
    const queued = (i: number) => i % QUEUED_EVERY === 0;

    const copy = async (statement: string, rows: () => Generator<string>) => {
      const chunks = (function* () {
        let buffer: string[] = [];
        for (const line of rows()) {
          buffer.push(line);
          if (buffer.length === 5_000) {
            yield `${buffer.join("\n")}\n`;
            buffer = [];
          }
        }
        if (buffer.length > 0) yield `${buffer.join("\n")}\n`;
      })();
      await pipeline(Readable.from(chunks), client.query(copyFrom(statement)));
    };

    await copy(
      "copy batches (id, environment_id, status, run_count, enqueued_count, sealed, successful_run_count, failed_run_count, finished_item_count, created_at, updated_at, sealed_at, processing_completed_at, completed_at) from stdin",
      function* () {
        for (let b = 0; b < batchCount; b++) {
          const first = b * BATCH_SIZE;
          const size = Math.min(BATCH_SIZE, runs - first);
          let own = 0;
          for (let i = first; i < first + size; i++) if (!queued(i)) own++;
          const created = at(first);
          const done = at(first + size - 1);
          yield [batchIds[b], env, "COMPLETED", own, own, "t", own, 0, own, created, done, created, created, done].join(
            "\t",
          );
        }
      },
    );
    log("batches copied");

    const runId = (i: number) => `run_${String(i).padStart(10, "0")}${process.pid.toString(36)}`;
    await copy("copy batch_items (batch_id, batch_index, task_identifier, run_id) from stdin", function* () {
      const index = new Map<number, number>();
      for (let i = 0; i < runs; i++) {
        if (queued(i)) continue;
        const b = Math.floor(i / BATCH_SIZE);
        const position = index.get(b) ?? 0;
        index.set(b, position + 1);
        yield [batchIds[b], position, TASK, runId(i)].join("\t");
      }
    });
    log("ledger copied");

    await copy(
      "copy runs (id, environment_id, task_identifier, status, payload, payload_type, queue, idempotency_key, idempotency_key_expires_at, tags, batch_id, batch_index, trigger_function, attempt, output, output_type, error, created_at, updated_at, started_at, finished_at) from stdin",
      function* () {
        const index = new Map<number, number>();
        for (let i = 0; i < runs; i++) {
          const it = benchItem("history", i);
          const created = at(i);
          const keyExpires = new Date(Date.parse(created) + HISTORY_MS).toISOString();
          const tags = `{${it.tags.join(",")}}`;
          if (queued(i)) {
            yield [
              runId(i),
              env,
              OTHER_TASK,
              "QUEUED",
              esc(JSON.stringify(it.payload)),
              "application/json",
              `task/${OTHER_TASK}`,
              esc(it.key),
              keyExpires,
              tags,
              "\\N",
              "\\N",
              "trigger",
              0,
              "\\N",
              "\\N",
              "\\N",
              created,
              created,
              "\\N",
              "\\N",
            ].join("\t");
            continue;
          }
          const b = Math.floor(i / BATCH_SIZE);
          const position = index.get(b) ?? 0;
          index.set(b, position + 1);
          const failed = i % QUEUED_EVERY === 1;
          yield [
            runId(i),
            env,
            TASK,
            failed ? "FAILED" : "COMPLETED",
            esc(JSON.stringify(it.payload)),
            "application/json",
            `task/${TASK}`,
            esc(it.key),
            keyExpires,
            tags,
            batchIds[b],
            position,
            "batchTrigger",
            failed ? 3 : 1,
            failed ? "\\N" : esc(JSON.stringify({ ok: true, n: i })),
            failed ? "\\N" : "application/json",
            failed ? esc(JSON.stringify({ name: "Error", message: "bench history failure" })) : "\\N",
            created,
            created,
            created,
            created,
          ].join("\t");
        }
      },
    );
    log("runs copied; building keys and indexes");

    for (const k of keys) await client.query(`alter table ${k.table} add constraint ${k.name} ${k.def}`);
    for (const i of indexes) await client.query(i.def);
    await client.query("insert into queues (environment_id, name) values ($1, $2) on conflict do nothing", [
      env,
      `task/${OTHER_TASK}`,
    ]);
    for (const t of tables) await client.query(`vacuum analyze ${t}`);
  } finally {
    await client.end();
  }
}

/** The statements behind the measured reads, explained on the large database. */
async function explainPlans(url: string): Promise<[string, string][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const env = (await client.query<{ id: string }>("select environment_id as id from api_keys")).rows[0]!.id;
    const batch = (
      await client.query<{ id: string }>(
        "select id from batches where environment_id = $1 order by created_at desc, id desc limit 1",
        [env],
      )
    ).rows[0]!.id;
    const statements: [string, string, unknown[]][] = [
      [
        "`run.list` first page (server/runs/queries.ts)",
        "select id, status, created_at from runs where environment_id = $1 order by created_at desc, id desc limit 26",
        [env],
      ],
      [
        "`batch.list` first page (server/batches/queries.ts)",
        "select * from batches where environment_id = $1 order by created_at desc, id desc limit 26",
        [env],
      ],
      [
        "batch read: its ledger (server/batches/queries.ts)",
        "select batch_index, task_identifier, run_id, error, error_code from batch_items where batch_id = $1 order by batch_index",
        [batch],
      ],
      [
        "claim: the queues with claimable runs (server/lifecycle/claim.ts)",
        `select environment_id, name from queues where environment_id = $1 and not paused and coalesce((
           select true from unnest($2::text[]) as served(task) cross join lateral (
             select 1 from runs r where r.environment_id = queues.environment_id and r.queue = queues.name
               and r.status = 'QUEUED' and r.task_identifier = served.task limit 1
           ) found limit 1
         ), false) order by last_dequeued_at asc nulls first, name limit 1`,
        [env, [TASK]],
      ],
      [
        "claim: the oldest queued run of a queue (server/lifecycle/claim.ts)",
        `select id, created_at from runs
         where environment_id = $1 and queue = $2 and status = 'QUEUED' and task_identifier = $3
           and (expires_at is null or expires_at > now())
         order by created_at, id limit 1`,
        [env, `task/${TASK}`, TASK],
      ],
    ];
    const out: [string, string][] = [];
    for (const [name, text, values] of statements) {
      const { rows } = await client.query<{ "QUERY PLAN": string }>(
        `explain (analyze, buffers, costs off) ${text}`,
        values,
      );
      out.push([name, rows.map((r) => r["QUERY PLAN"]).join("\n")]);
    }
    return out;
  } finally {
    await client.end();
  }
}
