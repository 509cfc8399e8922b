import pg from "pg";

/**
 * A fresh, empty database next to the bench's own, named `<base>_<suffix>`, so every system
 * starts from the same state in every run. Returns its URL.
 */
export async function freshDatabase(baseUrl: string, suffix: string): Promise<string> {
  const url = new URL(baseUrl);
  const base = decodeURIComponent(url.pathname.slice(1)) || "postgres";
  const name = `${base}_${suffix}`;
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unusable database name ${name}`);
  const admin = new pg.Client({ connectionString: baseUrl });
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
