import pg from "pg";
import type { BenchConfig } from "../config.js";
import { freshDatabase } from "../databases.js";
import { GraphilePeer } from "../peers/graphile.js";
import { PgBossPeer } from "../peers/pgboss.js";
import { SalvoDrain } from "../peers/salvo-drain.js";
import { schemaSizes, type TableSize, totalBytes } from "../relation-sizes.js";
import { createBatch, streamItems } from "../salvo-api.js";
import { startSalvoProcess } from "../salvo-server.js";
import { markdownTable } from "../table.js";
import { type BenchItem, benchItem, runTag } from "../workload.js";

/** Items per two-phase batch (Salvo's default largest batch) and per peer insert call. */
const SALVO_BATCH = 100_000;
const PEER_CHUNK = 5_000;

const perRun = (bytes: number, runs: number) => (bytes / runs).toFixed(0);

/**
 * Scenario 5: bytes per stored run. The same `runs` jobs (the bench workload: ~100-byte payload,
 * two tags, a unique key) go into a fresh database of each system through its own API (Salvo: its
 * two-phase batches; pg-boss `insert`; graphile-worker `addJobs`), queued, and every table of the
 * system's schema is measured: heap (with TOAST) and indexes, ledger and events included.
 */
export async function storageScenario(cfg: BenchConfig, log: (msg: string) => void): Promise<string> {
  const runs = cfg.storage.runs;
  const tag = runTag("s5", 0);
  const item = (i: number): BenchItem => benchItem(tag, i);

  const salvoDb = await freshDatabase(cfg.databaseUrl, "size_salvo");
  const salvo = await startSalvoProcess({ databaseUrl: salvoDb, redisUrl: cfg.redisUrl, port: cfg.salvoPort });
  try {
    for (let done = 0; done < runs; done += SALVO_BATCH) {
      const n = Math.min(SALVO_BATCH, runs - done);
      const batchId = await createBatch(salvo, n);
      const result = await streamItems(salvo, batchId, n, (i) => item(done + i));
      if (result.itemsAccepted !== n) throw new Error(`stream accepted ${result.itemsAccepted} of ${n}`);
      log(`scenario 5: Salvo ${(done + n).toLocaleString("en-US")} runs`);
    }
  } finally {
    await salvo.stop();
  }

  const bossDb = await freshDatabase(cfg.databaseUrl, "size_pgboss");
  const graphileDb = await freshDatabase(cfg.databaseUrl, "size_graphile");
  for (const [name, open] of [
    ["pg-boss", () => PgBossPeer.open(bossDb)],
    ["graphile-worker", () => GraphilePeer.open(graphileDb)],
  ] as const) {
    const peer = await open();
    try {
      for (let done = 0; done < runs; done += PEER_CHUNK) {
        const n = Math.min(PEER_CHUNK, runs - done);
        await peer.insert(Array.from({ length: n }, (_, i) => item(done + i)));
      }
    } finally {
      await peer.close();
    }
    log(`scenario 5: ${name} ${runs.toLocaleString("en-US")} jobs`);
  }

  const executed = await eventsPerExecutedRun(cfg, log);

  const systems: [string, TableSize[], string][] = [
    ["Salvo", await schemaSizes(salvoDb, "public"), "kept (status, output) until `SALVO_RUN_RETENTION` (30 d)"],
    ["pg-boss 10", await schemaSizes(bossDb, "pgboss"), "kept, archived, then deleted after its retention"],
    ["graphile-worker", await schemaSizes(graphileDb, "graphile_worker"), "deleted when it succeeds"],
  ];
  const rows = systems.map(([name, tables, completed]) => [
    name,
    perRun(totalBytes(tables), runs),
    perRun(
      tables.reduce((s, t) => s + t.heapBytes, 0),
      runs,
    ),
    perRun(
      tables.reduce((s, t) => s + t.indexBytes, 0),
      runs,
    ),
    completed,
  ]);
  const salvoTables = systems[0]![1].filter((t) => t.heapBytes + t.indexBytes >= 64 * 1024);
  const breakdown = salvoTables.map((t) => [
    `\`${t.table}\``,
    perRun(t.heapBytes, runs),
    perRun(t.indexBytes, runs),
    t.indexes
      .filter((i) => i.bytes >= 64 * 1024)
      .map((i) => `\`${i.name}\` ${perRun(i.bytes, runs)}`)
      .join(", ") || "-",
  ]);
  return [
    `### 5. Bytes per stored run (${runs.toLocaleString("en-US")} queued runs)`,
    "",
    "The same jobs into a fresh database of each system through its own API, then every table of its schema " +
      "(`pg_table_size`: heap with TOAST; `pg_indexes_size`), divided by the number of jobs. Salvo's include the " +
      "ledger (`batch_items`), the batch rows and the outbox (`events`).",
    "",
    markdownTable(["system", "bytes / run", "heap", "indexes", "a completed job is"], rows),
    "",
    "Salvo by table (bytes per run; tables and indexes under 64 kB left out):",
    "",
    markdownTable(["table", "heap", "indexes", "each index"], breakdown),
    "",
    `Executing a run adds its status events to the outbox (kept \`SALVO_EVENT_RETENTION_HOURS\`, 72 h): measured on ` +
      `${executed.runs.toLocaleString("en-US")} runs executed by a worker (a database of their own, 1,000-run batches), ` +
      `the \`events\` table grew by ${executed.eventsPerRun.toFixed(2)} rows and ${executed.bytesPerRun.toFixed(0)} bytes per run ` +
      "(heap and indexes). graphile-worker deletes a job when it succeeds; pg-boss updates the job row in place.",
  ].join("\n");
}

/** The outbox's growth per executed run: `runs` runs queued in 1,000-run batches, drained by one worker. */
async function eventsPerExecutedRun(
  cfg: BenchConfig,
  log: (msg: string) => void,
): Promise<{ runs: number; eventsPerRun: number; bytesPerRun: number }> {
  const runs = cfg.storage.executedRuns;
  const db = await freshDatabase(cfg.databaseUrl, "size_executed");
  const salvo = await startSalvoProcess({ databaseUrl: db, redisUrl: cfg.redisUrl, port: cfg.salvoPort });
  try {
    const drain = new SalvoDrain(salvo);
    const tag = runTag("s5-executed", 0);
    for (let done = 0; done < runs; done += 1_000) {
      const n = Math.min(1_000, runs - done);
      await drain.insert(Array.from({ length: n }, (_, i) => benchItem(tag, done + i)));
    }
    const before = await outbox(db);
    await drain.drain(runs, 10);
    const after = await outbox(db);
    log(`scenario 5: ${runs.toLocaleString("en-US")} runs executed`);
    return { runs, eventsPerRun: (after.rows - before.rows) / runs, bytesPerRun: (after.bytes - before.bytes) / runs };
  } finally {
    await salvo.stop();
  }
}

async function outbox(databaseUrl: string): Promise<{ rows: number; bytes: number }> {
  const events = (await schemaSizes(databaseUrl, "public")).find((t) => t.table === "events");
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>("select count(*) as n from events");
    return { rows: Number(rows[0]!.n), bytes: events ? events.heapBytes + events.indexBytes : 0 };
  } finally {
    await client.end();
  }
}
