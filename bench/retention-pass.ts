/**
 * How fast retention drains a backlog: `npx tsx bench/retention-pass.ts <database url> [days] [seconds]`
 * runs retention passes (server/lifecycle/retention.ts, as the background task does, 2 s each) on
 * that database with a cutoff `days` ago (default 29: on scenario 6's month of history, its
 * oldest day) for `seconds` (default 30), and prints what each pass deleted. It deletes for real:
 * point it at a bench database (`<db>_flat_large`), never at one you keep.
 */
import { connect } from "../db/connect.js";
import { deleteExpired } from "../server/lifecycle/retention.js";

const [url, days = "29", seconds = "30"] = process.argv.slice(2);
if (!url || !/_flat_large$/.test(new URL(url).pathname)) {
  console.error("usage: npx tsx bench/retention-pass.ts postgres://…/<db>_flat_large [days] [seconds]");
  process.exit(2);
}
const connection = await connect({ databaseUrl: url, poolSize: 2 });
const cutoff = new Date(Date.now() - Number(days) * 86_400_000);
const until = Date.now() + Number(seconds) * 1000;
const total = { batches: 0, runs: 0, items: 0, events: 0, packets: 0, ms: 0 };
while (Date.now() < until) {
  const started = Date.now();
  const counts = await deleteExpired(connection.db, cutoff);
  const ms = Date.now() - started;
  for (const k of ["batches", "runs", "items", "events", "packets"] as const) total[k] += counts[k];
  total.ms += ms;
  console.log(`pass ${ms} ms: ${JSON.stringify(counts)}`);
  if (counts.batches + counts.runs + counts.items === 0) break;
}
console.log(
  `total ${JSON.stringify(total)}: ${Math.round((total.runs / total.ms) * 1000)} runs/s, ` +
    `${Math.round((total.items / total.ms) * 1000)} ledger items/s`,
);
await connection.close();
