/**
 * `npm run bench`: Salvo against pg-boss, graphile-worker, BullMQ and a plain COPY, on the local
 * Postgres and Redis, every system measured in this same run. Prints one markdown table per
 * scenario and writes them to bench/results/latest.md. See bench/config.ts for the knobs.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os, { availableParallelism } from "node:os";
import pg from "pg";
import { benchConfig as cfg } from "./config.js";
import { ensureDatabase, freshDatabase } from "./databases.js";
import { runFanoutBench } from "./fanout.js";
import { BullPeer } from "./peers/bullmq.js";
import { CopyFloor } from "./peers/copy-floor.js";
import { GraphilePeer } from "./peers/graphile.js";
import { PgBossPeer } from "./peers/pgboss.js";
import { SalvoDrain } from "./peers/salvo-drain.js";
import { startSalvoProcess } from "./salvo-server.js";
import { drainScenario } from "./scenarios/drain.js";
import { flatCostsScenario } from "./scenarios/flat-costs.js";
import { oneShotScenario } from "./scenarios/one-shot.js";
import { storageScenario } from "./scenarios/storage.js";
import { streamScenario } from "./scenarios/stream.js";

const started = Date.now();
const log = (msg: string) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}`);

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>("show server_version");
    return rows[0]!.server_version;
  } finally {
    await client.end();
  }
}

async function main() {
  await ensureDatabase(cfg.databaseUrl);
  log(`fresh databases next to ${new URL(cfg.databaseUrl).pathname.slice(1)}${cfg.quick ? " (BENCH_QUICK)" : ""}`);
  const [salvoDb, bossDb, graphileDb, copyDb] = await Promise.all(
    ["salvo", "pgboss", "graphile", "copy"].map((s) => freshDatabase(cfg.databaseUrl, s)),
  );
  const startSalvo = (env: Record<string, string> = {}) =>
    startSalvoProcess({ databaseUrl: salvoDb!, redisUrl: cfg.redisUrl, port: cfg.salvoPort, env });

  const pgBoss = await PgBossPeer.open(bossDb!);
  const graphile = await GraphilePeer.open(graphileDb!);
  const bull = await BullPeer.open(cfg.redisUrl);
  const copy = await CopyFloor.open(copyDb!);
  const sections: string[] = [];
  // Storage at scale (5, 6) takes long and much disk: asked for by BENCH_ONLY, reported in scale.md.
  const scaleSections: string[] = [];
  try {
    if (cfg.only.has(1)) {
      log("scenario 1: one-shot batch");
      const salvo = await startSalvo();
      try {
        sections.push(await oneShotScenario(cfg, { salvo, pgBoss, graphile, bull, copy }));
      } finally {
        await salvo.stop();
      }
      console.log(`${sections.at(-1)}\n`);
    }

    if (cfg.only.has(2)) {
      log("scenario 2: two-phase stream");
      sections.push(await streamScenario(cfg, startSalvo, copy));
      console.log(`${sections.at(-1)}\n`);
    }

    if (cfg.only.has(3)) {
      log("scenario 3: drain");
      // A Salvo of its own: the runs scenarios 1 and 2 queued would otherwise be claimed first.
      const drainDb = await freshDatabase(cfg.databaseUrl, "salvo_drain");
      const salvo = await startSalvoProcess({ databaseUrl: drainDb, redisUrl: cfg.redisUrl, port: cfg.salvoPort });
      try {
        sections.push(
          await drainScenario(
            cfg,
            [
              ["Salvo (`createWorker`, concurrency 10)", new SalvoDrain(salvo)],
              ["graphile-worker", graphile],
              ["pg-boss", pgBoss],
              ["BullMQ", bull],
            ],
            "Salvo's runs are the items of two-phase batches (1,000 each), done when every batch is `COMPLETED`.",
          ),
        );
      } finally {
        await salvo.stop();
      }
      console.log(`${sections.at(-1)}\n`);
    }

    if (cfg.only.has(4)) {
      log("scenario 4: fan-out");
      // The fan-out bench runs its server in this process, on a database of its own and Redis.
      process.env.DATABASE_URL = await freshDatabase(cfg.databaseUrl, "salvo_fanout");
      process.env.REDIS_URL = cfg.redisUrl;
      const subscribers = cfg.quick ? 100 : 1000;
      // Subscribers are other services: they are spread over one process, then over as many as
      // the machine has cores, so the table shows how much of the latency is the subscribers' own
      // CPU (each parses every message) rather than the server's.
      const spreads = [...new Set([1, availableParallelism()])];
      const rows: string[] = [];
      for (const processes of spreads) {
        const r = await runFanoutBench({ subscribers, events: 20, intervalMs: 200, processes });
        rows.push(
          `| ${r.subscribers} | ${processes} | ${r.events} | ${r.p50Ms.toFixed(0)} | ${r.p99Ms.toFixed(0)} | ` +
            `${r.serverMs.p50.toFixed(0)} / ${r.serverMs.max.toFixed(0)} | ${r.subscriberMs.p50.toFixed(0)} / ${r.subscriberMs.max.toFixed(0)} | ` +
            `${r.p99Ms < 50 ? "met" : "not met"} |`,
        );
      }
      sections.push(
        [
          "### 4. Fan-out latency",
          "",
          `Event-to-subscriber latency: ${subscribers} \`batch.watch\` subscribers (SSE, in processes of their own), 20 run transitions 200 ms apart, Postgres + Redis.`,
          "",
          "Per event, the time until its last subscriber had it splits into the server's share (the event's transaction start to the last socket write of it) and the subscribers' share (that write to the last arrival); each as median / highest over the events.",
          "",
          "| subscribers | subscriber processes | events | p50 ms | p99 ms | server share ms | subscribers' share ms | goal p99 < 50 ms |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |",
          ...rows,
        ].join("\n"),
      );
      console.log(`${sections.at(-1)}\n`);
    }

    if (cfg.only.has(5)) {
      log(`scenario 5: bytes per run (${cfg.storage.runs} runs)`);
      scaleSections.push(await measured(() => storageScenario(cfg, log)));
      console.log(`${scaleSections.at(-1)}\n`);
    }

    if (cfg.only.has(6)) {
      log(`scenario 6: flat costs (${cfg.flat.runs} runs stored)`);
      scaleSections.push(await measured(() => flatCostsScenario(cfg)));
      console.log(`${scaleSections.at(-1)}\n`);
    }
  } finally {
    await Promise.allSettled([pgBoss.close(), graphile.close(), bull.close(), copy.close()]);
  }

  const header = [
    "## Benchmark results",
    "",
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · ` +
      `Node ${process.version} · Postgres ${await postgresVersion(cfg.databaseUrl)} · ${cfg.quick ? "BENCH_QUICK=1" : "full run"} · ` +
      `took ${((Date.now() - started) / 1000).toFixed(0)} s`,
    "",
  ].join("\n");
  if (sections.length > 0) {
    writeFileSync(new URL("./results/latest.md", import.meta.url), `${[header, ...sections].join("\n\n")}\n`);
    log("wrote bench/results/latest.md");
  }
  if (scaleSections.length > 0) {
    writeScaleResults(scaleSections);
    log("wrote bench/results/scale.md");
  }
}

/**
 * A scale section (5, 6: long runs, each run on its own) with when it was measured and the machine's
 * load before and after, under its heading.
 */
async function measured(scenario: () => Promise<string>): Promise<string> {
  const before = os.loadavg();
  const started = new Date().toISOString();
  const section = await scenario();
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(", ");
  const [heading, ...rest] = section.split("\n");
  return [
    heading,
    "",
    `Measured ${started}; load average before ${load(before)}, after ${load(os.loadavg())}.`,
    ...rest,
  ].join("\n");
}

const SCALE_RESULTS = new URL("./results/scale.md", import.meta.url);

/** Replaces this run's sections of bench/results/scale.md (by their "### N." heading), keeping the others. */
function writeScaleResults(fresh: string[]) {
  const number = (section: string) => /^### (\d+)\./.exec(section)?.[1];
  const previous = existsSync(SCALE_RESULTS)
    ? readFileSync(SCALE_RESULTS, "utf8")
        .split(/\n(?=### \d+\.)/)
        .slice(1)
        .map((s) => s.trimEnd())
    : [];
  const replaced = new Set(fresh.map(number));
  const sections = [...previous.filter((s) => !replaced.has(number(s))), ...fresh].sort(
    (a, b) => Number(number(a)) - Number(number(b)),
  );
  const header = [
    "## Storage at scale",
    "",
    `${os.cpus().length} × ${os.cpus()[0]?.model.trim()} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · Node ${process.version}. ` +
      "`BENCH_ONLY=5,6 npm run bench` writes this file; each scenario replaces its own section.",
  ].join("\n");
  writeFileSync(SCALE_RESULTS, `${[header, ...sections].join("\n\n")}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
