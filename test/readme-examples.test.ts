import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, type Started, spawnBuilt, waitForOutput } from "./support/built-server.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

// The README's TypeScript samples are the files of examples/, shown verbatim, and they run as
// written: the worker through `salvo worker`, the client through tsx, against a live server.
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const examples = readdirSync(join(ROOT, "examples")).filter((f) => f.endsWith(".ts"));
const dir = mkdtempSync(join(tmpdir(), "salvo-examples-"));
const started: Started[] = [];
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(async () => {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  await salvo?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("README", () => {
  it("shows every example file verbatim", () => {
    expect(examples.sort()).toEqual(["realtime-sdk.ts", "tasks.ts", "trigger-and-watch.ts"]);
    for (const file of examples) {
      const text = readFileSync(join(ROOT, "examples", file), "utf8");
      expect(readme, file).toContain(`\`\`\`ts\n${text}\`\`\``);
    }
  });

  it("names one key variable, no issue numbers, no database it does not create, and links only to files that exist", () => {
    expect(readme).not.toMatch(/\bSALVO_KEY\b/);
    expect(readme).not.toMatch(/\bissue \d/i);
    expect(readme).not.toMatch(/5432\/test\b/);
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
    for (const link of links.filter((l) => !/^https?:/.test(l))) expect(existsSync(join(ROOT, link)), link).toBe(true);
  });

  it("the worker and client examples run as written against a live server", async () => {
    const env = { SALVO_URL: salvo.url, SALVO_API_KEY: salvo.key };
    // `salvo worker examples/tasks.ts`, in a directory of its own (the example writes outbox.ndjson there).
    const worker = spawnBuilt(
      "sh",
      ["-c", `cd "${dir}" && exec node "${ROOT}/bin/salvo.js" worker "${ROOT}/examples/tasks.ts"`],
      env,
    );
    started.push(worker);
    await waitForOutput(worker, /serving send-email/);

    const client = spawnBuilt(process.execPath, ["--import", "tsx", "examples/trigger-and-watch.ts"], env);
    started.push(client);
    expect(await client.exited, client.output()).toBe(0);
    const lines = client.output().trim().split("\n");
    expect(lines.at(-3)).toBe("COMPLETED 2/2 runs done");
    for (const line of lines.slice(-2)) expect(line).toMatch(/^run_\w+ ok \{"messageId":"msg_\w+","attempt":1\}$/);

    const outbox = readFileSync(join(dir, "outbox.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { to: string; subject: string });
    expect(outbox.map((m) => m.to).sort()).toEqual(["a@example.com", "b@example.com"]);

    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
  }, 120_000);

  it("the SDK realtime example follows its batch to the end, then lists and replays its runs", async () => {
    const env = { SALVO_URL: salvo.url, SALVO_API_KEY: salvo.key };
    const workDir = mkdtempSync(join(tmpdir(), "salvo-examples-sdk-"));
    const worker = spawnBuilt(
      "sh",
      ["-c", `cd "${workDir}" && exec node "${ROOT}/bin/salvo.js" worker "${ROOT}/examples/tasks.ts"`],
      env,
    );
    started.push(worker);
    try {
      await waitForOutput(worker, /serving send-email/);
      const client = spawnBuilt(process.execPath, ["--import", "tsx", "examples/realtime-sdk.ts"], env);
      started.push(client);
      expect(await client.exited, client.output()).toBe(0);
      const lines = client.output().trim().split("\n");
      const listed = lines.filter((l) => l.includes(" replayed as "));
      expect(lines.at(-3)).toBe("COMPLETED COMPLETED");
      expect(listed).toHaveLength(2);
      for (const line of listed) expect(line).toMatch(/^run_\w+ COMPLETED replayed as run_\w+$/);
      // Each replay is a run of its own with the original's payload.
      for (const line of listed) {
        const [original, , , , replayId] = line.split(" ");
        const [a, b] = await Promise.all(
          [original!, replayId!].map(
            async (id) => (await (await salvo.api(`/api/v3/runs/${id}`)).json()) as { payload: unknown },
          ),
        );
        expect(replayId).not.toBe(original);
        expect(b!.payload).toEqual(a!.payload);
      }
      worker.child.kill("SIGTERM");
      expect(await worker.exited).toBe(0);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  }, 120_000);
});
