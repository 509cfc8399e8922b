import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { batch, configure, runs, tasks } from "@trigger.dev/sdk";
import type { BrowserContext } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorker } from "../client/index.js";
import { launchChromium } from "./support/chromium.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * `useRealtimeBatch` of @trigger.dev/react-hooks in a real browser (Debian's chromium, driven by
 * playwright-core), on a page built here with Vite and served from another origin than Salvo.
 * It exercises HTTP, CORS and the published client, nothing of the database: it runs in the
 * embedded mode only (the Postgres pass of `npm test` skips it).
 */
const PAGE_DIR = fileURLToPath(new URL("./browser/batch-page/", import.meta.url));
const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

let salvo: TestSalvo;
let pageServer: Server;
let pageOrigin: string;
let browser: BrowserContext;
let closeBrowser: (() => Promise<void>) | undefined;
const temporary: string[] = [];

/** Serves the built page's files, and nothing outside them. */
function serveStatic(dir: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = normalize(new URL(req.url ?? "/", "http://page").pathname).replace(/^\/+/, "") || "index.html";
    try {
      const body = await readFile(join(dir, path.includes("..") ? "index.html" : path));
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

describe.skipIf(process.env.DATABASE_URL !== undefined)("useRealtimeBatch in Chromium", () => {
  beforeAll(async () => {
    salvo = await startTestSalvo();
    configure({ baseURL: salvo.url, accessToken: salvo.key });
    const outDir = await mkdtemp(join(tmpdir(), "salvo-page-"));
    temporary.push(outDir);
    await build({
      root: PAGE_DIR,
      base: "./",
      logLevel: "silent",
      configFile: false,
      build: { outDir, emptyOutDir: true, minify: false },
    });
    pageServer = await serveStatic(outDir);
    const address = pageServer.address() as { port: number };
    // localhost, not 127.0.0.1: another origin than the API's, so the browser applies CORS.
    pageOrigin = `http://localhost:${address.port}`;
    ({ browser, close: closeBrowser } = await launchChromium());
  });

  afterAll(async () => {
    await closeBrowser?.();
    await new Promise((resolve) => pageServer?.close(resolve));
    await salvo?.close();
    await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("shows the batch's runs, then their changes as they happen", async () => {
    const handle = await tasks.batchTrigger("browser-task", [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const ids = (await batch.retrieve(handle.batchId)).runs;
    const page = await browser.newPage();
    const query = new URLSearchParams({ batch: handle.batchId, token: handle.publicAccessToken, api: salvo.url });
    await page.goto(`${pageOrigin}/index.html?${query}`);
    const status = (runId: string) => page.locator(`li[data-run="${runId}"]`).getAttribute("data-status");
    const until = (runId: string, wanted: string) =>
      page.waitForSelector(`li[data-run="${runId}"][data-status="${wanted}"]`, { timeout: 20_000 });

    for (const id of ids) await until(id, "QUEUED");
    expect(await page.locator("li").count()).toBe(3);

    await runs.cancel(ids[0]!);
    await until(ids[0]!, "CANCELED");

    const worker = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      tasks: { "browser-task": (n: number) => n * 10 },
      pollWaitMs: 500,
    });
    try {
      await until(ids[1]!, "COMPLETED");
      await until(ids[2]!, "COMPLETED");
    } finally {
      await worker.stop({ graceMs: 1000 });
    }
    expect(await status(ids[0]!)).toBe("CANCELED");
    expect(await page.locator("#error").count()).toBe(0);
    expect(await page.locator("li").count()).toBe(3);
  });
});
