import type { BenchConfig } from "../config.js";
import { freshDatabase } from "../databases.js";
import { GraphilePeer } from "../peers/graphile.js";
import { PgBossPeer } from "../peers/pgboss.js";
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
  ].join("\n");
}
