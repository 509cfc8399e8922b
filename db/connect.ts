import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Kysely, PGliteDialect, PostgresDialect } from "kysely";
import pg from "pg";
import { copyAwarePglite } from "./copy-rows.js";
import { lockDataDir } from "./data-dir-lock.js";
import { gatedDialect, StatementGate } from "./gate.js";
import { PreparingClient } from "./prepared.js";
import type { Database } from "./schema.js";

const INT8_OID = 20;

export interface Connection {
  db: Kysely<Database>;
  /** "postgres" for a server reached by URL, "pglite" for the embedded default. */
  kind: "postgres" | "pglite";
  /** Shut at a shutdown's deadline: from then on no statement starts and nothing commits (db/gate.ts). */
  gate: StatementGate;
  /** The pool's connections (Postgres only: PGlite has one connection and no pool), for metrics. */
  poolStats?: () => { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** A postgres:// URL; absent means embedded PGlite. */
  databaseUrl?: string;
  /** Where embedded PGlite keeps its files; "memory://" keeps them in memory. */
  dataDir?: string;
  poolSize?: number;
  /** Longest wait for a pooled connection (a new one, or a free one of a busy pool) before failing. */
  connectTimeoutMs?: number;
  /** Where a lost Postgres connection is reported (the server's logger); stderr when absent. */
  onConnectionLost?: (message: string) => void;
  /**
   * Longest a statement may run (Postgres's `statement_timeout`); a statement not answered
   * within this plus `UNANSWERED_GRACE_MS` (a frozen or unreachable server) fails on the client
   * and its connection is dropped. Absent or 0: no limit (migrations, the CLI).
   */
  statementTimeoutMs?: number;
}

/** How much longer than `statement_timeout` the client waits before it gives up on the server itself. */
const UNANSWERED_GRACE_MS = 2_000;

/** At most one log line per this long about lost Postgres connections: an outage loses them all at once. */
const LOST_CONNECTION_LOG_MS = 10_000;

export async function connect(options: ConnectOptions): Promise<Connection> {
  const gate = new StatementGate();
  if (options.databaseUrl) {
    const statementTimeout = options.statementTimeoutMs || undefined;
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      ...(statementTimeout
        ? { statement_timeout: statementTimeout, query_timeout: statementTimeout + UNANSWERED_GRACE_MS }
        : {}),
      max: options.poolSize ?? 20,
      Client: PreparingClient,
      // Postgres unreachable: fail the request (a 503) instead of waiting for a connection forever.
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      // A connection whose server vanished without a word (a crashed host) is found out by the OS.
      keepAlive: true,
    });
    // A connection that breaks (Postgres restarted or stopped: 57P01, "Connection terminated")
    // emits "error". pg-pool listens on idle clients only, and an "error" event with no listener
    // ends the process: every client gets its own listener for its whole life. The statement it
    // was running fails on its own (the request answers 503), and the pool discards the client
    // when it is released.
    let lastLog = 0;
    const lost = (err: Error) => {
      const now = Date.now();
      if (now - lastLog < LOST_CONNECTION_LOG_MS) return;
      lastLog = now;
      const message = `postgres connection lost: ${err.message}`;
      if (options.onConnectionLost) options.onConnectionLost(message);
      else console.error(message);
    };
    pool.on("connect", (client) => client.on("error", lost));
    pool.on("error", lost);
    const db = new Kysely<Database>({ dialect: gatedDialect(new PostgresDialect({ pool }), gate) });
    const poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
    return { db, kind: "postgres", gate, poolStats, close: () => db.destroy() };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const dataDir = options.dataDir ?? "./.salvo";
  const inMemory = dataDir.startsWith("memory://");
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  // One process at a time: a second one writing the same files corrupts them (see data-dir-lock.ts).
  const lock = inMemory ? undefined : lockDataDir(dataDir);
  try {
    // int8 as text, as node-postgres returns it, so both drivers give the same shapes.
    const open = () => PGlite.create(dataDir, { parsers: { [INT8_OID]: (value: string) => value } });
    const fresh = !inMemory && !existsSync(join(dataDir, "PG_VERSION"));
    let client = await open();
    if (fresh) {
      // Creating the database (PGlite's initdb) grows its WebAssembly memory to ~800 MB, which an
      // instance never gives back; a new instance on the files it wrote starts near the ~300 MB a
      // restart does (bench/embedded-memory.ts). One extra boot on the very first start only.
      await client.close();
      client = await open();
    }
    // Kysely's PGlite dialect: one connection, handed to one transaction or statement at a time.
    // COPY statements read their data from a blob there (db/copy-rows.ts).
    const db = new Kysely<Database>({
      dialect: gatedDialect(new PGliteDialect({ pglite: copyAwarePglite(client) }), gate),
    });
    return {
      db,
      kind: "pglite",
      gate,
      async close() {
        try {
          await db.destroy();
        } finally {
          lock?.release();
        }
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}
