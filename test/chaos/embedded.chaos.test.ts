import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { api, newKey, ROOT, type ServerProcess, startServer } from "./support.js";

// The embedded (PGlite) data directory: a server killed with kill -9 is started again on the same
// directory with its data intact (its stale lock taken over); a second server or the CLI beside a
// running one is refused, naming the holder, and the holder's data is not touched.
const dir = mkdtempSync(join(tmpdir(), "salvo-chaos-embedded-"));
const key = newKey();
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) await s.kill9();
  rmSync(dir, { recursive: true, force: true });
});
const start = async () => {
  const s = await startServer({ SALVO_DATA_DIR: dir, SALVO_BOOTSTRAP_KEY: key });
  servers.push(s);
  return s;
};
const holder = () => (JSON.parse(readFileSync(join(dir, "salvo.lock"), "utf8")) as { pid: number }).pid;
const cli = (args: string[]) =>
  new Promise<{ code: number; stderr: string }>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, SALVO_DATA_DIR: dir };
    delete env.DATABASE_URL;
    execFile(process.execPath, ["bin/salvo.js", ...args], { cwd: ROOT, env }, (err, _out, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });

async function oneShot(url: string, n: number): Promise<string> {
  const res = await api(url, key, "/api/v1/tasks/embedded/batch", {
    json: { items: Array.from({ length: n }, (_, i) => ({ payload: { i } })) },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { batchId: string }).batchId;
}

describe("embedded data directory", () => {
  it("kill -9, restart: every acknowledged batch is intact", async () => {
    const first = await start();
    const batches: string[] = [];
    for (let i = 0; i < 10; i++) batches.push(await oneShot(first.url, 100));
    await first.kill9();

    const second = await start();
    expect(holder()).toBe(second.child.pid);
    for (const id of batches) {
      const res = await api(second.url, key, `/api/v1/batches/${id}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { runs: string[] }).runs).toHaveLength(100);
    }
    expect(await second.term()).toBe(0);
  });

  it("double open: a second server and the CLI are refused while one runs; nothing acknowledged is lost", async () => {
    const first = await start();
    const batches = [await oneShot(first.url, 50)];
    const second = await startServer({ SALVO_DATA_DIR: dir, SALVO_BOOTSTRAP_KEY: key }).then(
      (s) => {
        servers.push(s);
        return "started";
      },
      (err: Error) => err.message,
    );
    expect(second).toContain(`in use by process ${first.child.pid}`);
    const refused = await cli(["key", "list"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`in use by process ${first.child.pid}`);
    batches.push(await oneShot(first.url, 50));
    expect(await first.term()).toBe(0);

    const again = await start();
    for (const id of batches) expect((await api(again.url, key, `/api/v1/batches/${id}`)).status).toBe(200);
    expect(await again.term()).toBe(0);
  });
});
