import pg from "pg";

/** The server's `postgres` maintenance database: where databases are created and dropped from. */
function maintenanceUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = "/postgres";
  return url.toString();
}

/**
 * Creates the bench's own database (BENCH_DATABASE_URL's) when it does not exist yet, so a bench
 * on a fresh machine needs nothing made by hand.
 */
export async function ensureDatabase(baseUrl: string): Promise<void> {
  const name = decodeURIComponent(new URL(baseUrl).pathname.slice(1)) || "postgres";
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unusable database name ${name}`);
  const admin = new pg.Client({ connectionString: maintenanceUrl(baseUrl) });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("select 1 from pg_database where datname = $1", [name]);
    if (rowCount === 0) await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
}

/** The URL of the database `<base>_<suffix>` next to the bench's own (as `freshDatabase` names it), as it is. */
export function databaseNamed(baseUrl: string, suffix: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${decodeURIComponent(url.pathname.slice(1)) || "postgres"}_${suffix}`;
  return url.toString();
}

/**
 * A fresh, empty database next to the bench's own, named `<base>_<suffix>`, so every system
 * starts from the same state in every run. Returns its URL.
 */
export async function freshDatabase(baseUrl: string, suffix: string): Promise<string> {
  const url = new URL(baseUrl);
  const base = decodeURIComponent(url.pathname.slice(1)) || "postgres";
  const name = `${base}_${suffix}`;
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unusable database name ${name}`);
  const admin = new pg.Client({ connectionString: maintenanceUrl(baseUrl) });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}
