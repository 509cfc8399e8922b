import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./support/built-server.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

// The client as another project gets it: the package packed with `npm pack`, installed from that
// tarball into a new project, a call type-checked with tsc (NodeNext and Bundler resolution),
// then compiled and run with plain node against a live server. What it checks does not depend
// on the database, so it runs in the embedded mode of the suite only.
const run = promisify(execFile);
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const work = mkdtempSync(join(tmpdir(), "salvo-packed-"));
const project = join(work, "consumer");
let salvo: TestSalvo;

beforeAll(async () => {
  salvo = await startTestSalvo();
}, 60_000);
afterAll(async () => {
  await salvo?.close();
  rmSync(work, { recursive: true, force: true });
});

const CALL = `import { createSalvoClient, type BatchProgress, type RunStatus } from "salvo/client";
import { BatchStatusSchema } from "salvo/shared";

const client = createSalvoClient({ url: process.env.SALVO_URL ?? "", apiKey: process.env.SALVO_API_KEY ?? "" });
const { id } = await client.batch.create.mutate({ runCount: 1 });
await client.batch.appendItems.mutate({ batchId: id, items: [{ index: 0, task: "packed", payload: { n: 1 } }] });
const batch = await client.batch.get.query({ batchId: id });
const status: RunStatus = "QUEUED";
const progress: Pick<BatchProgress, "id"> = { id };
console.log(JSON.stringify({ id: progress.id, status: BatchStatusSchema.parse(batch.status), runs: batch.runs.length, status2: status }));
`;

/** A call the types must refuse: proof that the installed declarations are real, not `any`. */
const WRONG = `import { createSalvoClient } from "salvo/client";
const client = createSalvoClient({ url: "http://127.0.0.1:1", apiKey: "k" });
await client.batch.create.mutate({ runCount: "two" });
`;

const tsc = (args: string[]) =>
  run(process.execPath, [TSC, ...args], { cwd: project }).then(
    () => ({ code: 0, out: "" }),
    (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, out: err.stdout ?? "" }),
  );
const COMMON = ["--strict", "--skipLibCheck", "--target", "es2022", "--types", "node"];

describe.skipIf(process.env.DATABASE_URL)("the packed client", () => {
  it("installs from the tarball, type-checks under NodeNext and Bundler, and runs on plain node", async () => {
    // The tree was built by `npm test` before the suite started: pack it as it is.
    await run("npm", ["pack", "--ignore-scripts", "--pack-destination", work], { cwd: ROOT });
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"))!;
    expect(tarball).toBe("salvo-0.1.0.tgz");

    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    // From the local tarball; its dependencies from npm's cache (filled by this clone's install).
    await run(
      "npm",
      [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        join(work, tarball),
        `@types/node@${nodeTypesVersion()}`,
      ],
      { cwd: project },
    );
    writeFileSync(join(project, "call.ts"), CALL);
    writeFileSync(join(project, "wrong.ts"), WRONG);

    const nodenext = await tsc([
      ...COMMON,
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--outDir",
      "out",
      "call.ts",
    ]);
    expect(nodenext.out).toBe("");
    expect(nodenext.code).toBe(0);
    const bundler = await tsc([
      ...COMMON,
      "--module",
      "esnext",
      "--moduleResolution",
      "bundler",
      "--noEmit",
      "call.ts",
    ]);
    expect(bundler.out).toBe("");
    expect(bundler.code).toBe(0);
    const wrong = await tsc([
      ...COMMON,
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--noEmit",
      "wrong.ts",
    ]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toContain("wrong.ts(3,36): error TS2322: Type 'string' is not assignable to type 'number'.");

    // Plain node, no tsx: the compiled call against the live server.
    const { stdout } = await run(process.execPath, ["out/call.js"], {
      cwd: project,
      env: { ...process.env, SALVO_URL: salvo.url, SALVO_API_KEY: salvo.key },
    });
    const printed = JSON.parse(stdout) as { id: string; status: string; runs: number };
    expect(printed).toMatchObject({ status: "PENDING", runs: 1 });
    const check = await salvo.api(`/api/v1/batches/${printed.id}`);
    expect(check.status).toBe(200);
  }, 120_000);
});

/** The @types/node this clone uses, so the install is served from the cache. */
function nodeTypesVersion(): string {
  const path = join(ROOT, "node_modules", "@types", "node", "package.json");
  return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
}
