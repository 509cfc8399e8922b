import { mkdirSync } from "node:fs";
import { Kysely, PostgresDialect } from "kysely";
import { lockDataDir } from "./data-dir-lock.js";
import pg from "pg";
import { PGliteDialect } from "./pglite-dialect.js";
import { PreparingClient } from "./prepared.js";
import type { Database } from "./schema.js";

const INT8_OID = 20;

export interface Connection {
  db: Kysely<Database>;
  /** "postgres" for a server reached by URL, "pglite" for the embedded default. */
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** A postgres:// URL; absent means embedded PGlite. */
  databaseUrl?: string;
  /** Where embedded PGlite keeps its files; "memory://" keeps them in memory. */
  dataDir?: string;
  poolSize?: number;
}

export async function connect(options: ConnectOptions): Promise<Connection> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 20, Client: PreparingClient });
    // A pool error on an idle client (a restarted server) must not crash the process.
    pool.on("error", (err) => console.error("postgres pool error:", err.message));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: "postgres", close: () => db.destroy() };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const dataDir = options.dataDir ?? "./.salvo";
  const inMemory = dataDir.startsWith("memory://");
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  // One process at a time: a second one writing the same files corrupts them (see data-dir-lock.ts).
  const lock = inMemory ? undefined : lockDataDir(dataDir);
  try {
    // int8 as text, as node-postgres returns it, so both drivers give the same shapes.
    const client = await PGlite.create(dataDir, { parsers: { [INT8_OID]: (value: string) => value } });
    const db = new Kysely<Database>({ dialect: new PGliteDialect(client) });
    return {
      db,
      kind: "pglite",
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
