/**
 * `npx tsx bench/profile.ts [oneshot|stream|drain]`: drives Salvo's hot paths (one-shot batches,
 * then one streamed two-phase batch; or, with `drain`, scenario 3's drain alone) against a server started with `--cpu-prof`, then prints the functions with the
 * most self time. Where the time goes, before anyone optimizes anything.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchConfig as cfg } from "./config.js";
import { freshDatabase } from "./databases.js";
import { SalvoDrain } from "./peers/salvo-drain.js";
import { createBatch, streamItems, triggerBatch } from "./salvo-api.js";
import { startSalvoProcess } from "./salvo-server.js";
import { timed } from "./stats.js";
import { benchItem, runTag } from "./workload.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const mode = process.argv[2] ?? "both";
const dir = mkdtempSync(join(tmpdir(), "salvo-prof-"));
const db = await freshDatabase(cfg.databaseUrl, "profile");
const salvo = await startSalvoProcess({
  databaseUrl: db,
  redisUrl: cfg.redisUrl,
  port: cfg.salvoPort,
  nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
  env: { SALVO_MAX_BATCH_RUN_COUNT: "1000000" },
});
try {
  if (mode === "drain") {
    const n = cfg.drain.jobs;
    const drain = new SalvoDrain(salvo);
    for (let start = 0; start < n; start += 1000) {
      const tag = runTag("profd", start);
      await drain.insert(Array.from({ length: Math.min(1000, n - start) }, (_, i) => benchItem(tag, start + i)));
    }
    const { ms } = await timed(() => drain.drain(n, cfg.drain.concurrency));
    console.log(`drain of ${n}: ${Math.round((n / ms) * 1000)} runs/s`);
  }
  if (mode === "both" || mode === "oneshot") {
    const { ms } = await timed(async () => {
      for (let rep = 0; rep < 30; rep++) {
        const tag = runTag("prof", rep);
        await triggerBatch(
          salvo,
          Array.from({ length: 1000 }, (_, i) => benchItem(tag, i)),
        );
      }
    });
    console.log(`30 one-shot batches of 1,000: ${(ms / 30).toFixed(1)} ms each`);
  }
  if (mode === "both" || mode === "stream") {
    const n = cfg.stream.items;
    const tag = runTag("profs", 0);
    const id = await createBatch(salvo, n);
    const { ms } = await timed(() => streamItems(salvo, id, n, (i) => benchItem(tag, i)));
    console.log(`stream of ${n}: ${Math.round((n / ms) * 1000)} items/s`);
  }
} finally {
  await salvo.stop();
}

// One profile per thread (tsx's loader runs in its own); the server's main thread wrote the largest.
const file = readdirSync(dir)
  .filter((f) => f.endsWith(".cpuprofile"))
  .sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
if (!file) throw new Error(`no profile written in ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as { nodes: ProfileNode[]; samples: number[] };
const total = profile.samples.length;
const self = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^.*\/(node_modules\/)?/, (m) => (m.includes("node_modules") ? "~/" : "")) || "(native)";
  const key = `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + (node.hitCount ?? 0));
}
console.log(`profile: ${join(dir, file)} (${total} samples)`);
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
}
