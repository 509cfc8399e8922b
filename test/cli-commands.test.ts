import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { setRunStatus } from "./support/live.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

/** Runs `salvo <args>` (the built CLI); `onStderr` sees its progress output as it comes. */
function runCommand(args: string[], env: Record<string, string>, onStderr?: (text: string) => void) {
  const child = spawn(process.execPath, ["bin/salvo.js", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += String(d)));
  child.stderr.on("data", (d) => {
    stderr += String(d);
    onStderr?.(stderr);
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr })),
  );
}

describe("salvo batch trigger / batch watch", () => {
  it("streams a file into a sealed batch, then watches it to completion", async () => {
    const dir = await mkdtemp(join(tmpdir(), "salvo-cli-"));
    const file = join(dir, "items.ndjson");
    await writeFile(
      file,
      `${['{"n":1}', '{"payload":{"n":2},"options":{"tags":["cli"]}}', "", "3", '"four"', "[5]"].join("\n")}\n`,
    );
    const env = { SALVO_URL: salvo.url, SALVO_API_KEY: salvo.key };

    const triggered = await runCommand(["batch", "trigger", "email", "--file", file, "--chunk", "2"], env);
    expect(triggered.stderr).toContain("5/5 items sent");
    expect(triggered.code).toBe(0);
    const batchId = triggered.stdout.trim();
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const batch = await client.batch.get.query({ batchId });
    expect(batch).toMatchObject({ runCount: 5, sealed: true });
    const second = await client.run.get.query({ runId: batch.runs[1]! });
    expect(second).toMatchObject({ taskIdentifier: "email", payload: { n: 2 }, tags: ["cli"] });

    let finishing: Promise<void> | undefined;
    const watched = await runCommand(["batch", "watch", batchId], env, (stderr) => {
      // Once the bar is drawn, the runs finish (two of them failing).
      if (!finishing && stderr.includes("0/5")) {
        finishing = (async () => {
          await setRunStatus(salvo.deps, salvo.env.environmentId, batch.runs.slice(0, 3), "COMPLETED");
          await setRunStatus(salvo.deps, salvo.env.environmentId, batch.runs.slice(3), "FAILED");
        })();
      }
    });
    await finishing;
    expect(watched.stderr).toContain("5/5 runs done, 2 failed · COMPLETED");
    expect(watched.stdout).toContain(`${batchId} COMPLETED: 3 succeeded, 2 failed`);
    expect(watched.code).toBe(1);
  }, 60_000);

  it("explains what is missing with exit code 2", async () => {
    const noKey = await runCommand(["batch", "watch", "batch_x"], { SALVO_URL: salvo.url, SALVO_API_KEY: "" });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("SALVO_API_KEY is not set");
    const usage = await runCommand(["batch", "trigger", "email"], { SALVO_URL: salvo.url, SALVO_API_KEY: salvo.key });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe(
      "salvo: required option '--file <path>' not specified (see `salvo batch trigger --help`)\n",
    );
    const missing = await runCommand(["batch", "watch", "batch_doesnotexist"], {
      SALVO_URL: salvo.url,
      SALVO_API_KEY: salvo.key,
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("not found");
  }, 60_000);
});
