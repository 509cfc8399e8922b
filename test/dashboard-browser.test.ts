import { mkdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { batch, configure, runs, tasks } from "@trigger.dev/sdk";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorker } from "../client/index.js";
import { dashboardDir } from "../server/http/dashboard.js";
import { launchChromium } from "./support/chromium.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core), served by Salvo
 * from the build `npm test` made first (`npm run build`). One server, one browser, a few pages.
 * It exercises HTTP, the router and the built page, nothing particular to the database: it runs
 * in the embedded mode of the suite only, as test/browser-realtime.test.ts does.
 *
 * The batch page's screenshot (README) is written to docs/images/dashboard-batch.png when
 * SALVO_UPDATE_SCREENSHOTS=1, to the temporary directory otherwise.
 */
const SCREENSHOT = process.env.SALVO_UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL("../docs/images/dashboard-batch.png", import.meta.url))
  : join(tmpdir(), "salvo-dashboard-batch.png");
const ITEMS = 30;
const FAILING = 7;

let salvo: TestSalvo;
let browser: BrowserContext;
let closeBrowser: (() => Promise<void>) | undefined;
/** Everything the pages requested, to check where the key went. */
const requests: { url: string; authorization?: string }[] = [];

/** A new tab, its console errors and uncaught exceptions collected. */
async function openPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  page.on("request", (request) =>
    requests.push({ url: request.url(), authorization: request.headers().authorization }),
  );
  return { page, errors };
}

const rowStatus = (page: Page, runId: string, status: string) =>
  page.waitForSelector(`tr[data-run="${runId}"][data-status="${status}"]`, { timeout: 10_000 });

describe.skipIf(process.env.DATABASE_URL !== undefined)("the dashboard in Chromium", () => {
  let batchId: string;
  let publicToken: string;
  let signedIn: { page: Page; errors: string[] };

  beforeAll(async () => {
    if (!dashboardDir()) throw new Error("dist/dashboard is missing: run `npm run build` first (npm test does)");
    salvo = await startTestSalvo();
    configure({ baseURL: salvo.url, accessToken: salvo.key });
    const handle = await tasks.batchTrigger(
      "dash-task",
      Array.from({ length: ITEMS }, (_, n) => ({ payload: { n }, options: { maxAttempts: 1 } })),
    );
    batchId = handle.batchId;
    publicToken = handle.publicAccessToken;
    ({ browser, close: closeBrowser } = await launchChromium());
  }, 60_000);

  afterAll(async () => {
    await closeBrowser?.();
    await salvo?.close();
  });

  it("GET / leads to the sign-in form; the key, typed and sent with the keyboard, lists the batches", async () => {
    signedIn = await openPage();
    const { page } = signedIn;
    await page.goto(`${salvo.url}/`);
    expect(new URL(page.url()).pathname).toBe("/dashboard/");
    await page.getByLabel("API key").fill(salvo.key);
    await page.getByLabel("API key").press("Enter");
    await page.waitForSelector(`tr[data-batch="${batchId}"]`, { timeout: 10_000 });
    expect(await page.evaluate('sessionStorage.getItem("salvo.secretKey")')).toBe(salvo.key);

    // A batch created while the list is open appears without a reload.
    const later = await tasks.batchTrigger("dash-task", [{ payload: { n: -1 } }]);
    await page.waitForSelector(`tr[data-batch="${later.batchId}"]`, { timeout: 10_000 });
    // Its progress bar moves when its run ends, without a reload.
    const laterBar = page.getByRole("progressbar", { name: `Progress of ${later.batchId}` });
    expect(await laterBar.getAttribute("aria-valuenow")).toBe("0");
    await runs.cancel((await batch.retrieve(later.batchId)).runs[0]!);
    await expect.poll(() => laterBar.getAttribute("aria-valuenow"), { timeout: 10_000 }).toBe("1");
    const rows = await page.locator("tbody tr[data-batch]").evaluateAll((trs) => trs.map((tr) => tr.dataset.batch));
    expect(rows.slice(0, 2)).toEqual([later.batchId, batchId]);
  }, 30_000);

  it("a batch page lists its runs a page at a time; a run canceled over REST turns CANCELED live; a worker moves the bar to 100 %", async () => {
    const { page } = signedIn;
    await page.getByRole("link", { name: batchId }).click();
    await page.waitForSelector("tr[data-run]", { timeout: 10_000 });
    const bar = page.getByRole("progressbar", { name: "Runs finished" });
    await expect.poll(() => bar.getAttribute("aria-valuemax"), { timeout: 10_000 }).toBe(String(ITEMS));
    expect(await bar.getAttribute("aria-valuenow")).toBe("0");
    // 25 runs a page, never all of them.
    expect(await page.locator("tr[data-run]").count()).toBe(25);
    await page.getByRole("button", { name: "Next →" }).click();
    await expect.poll(() => page.locator("tr[data-run]").count(), { timeout: 10_000 }).toBe(ITEMS - 25);
    await page.getByRole("button", { name: "← Previous" }).click();
    await expect.poll(() => page.locator("tr[data-run]").count(), { timeout: 10_000 }).toBe(25);

    const first = (await page.locator("tr[data-run]").first().getAttribute("data-run"))!;
    await rowStatus(page, first, "QUEUED");
    await runs.cancel(first);
    await rowStatus(page, first, "CANCELED");

    const worker = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      tasks: {
        "dash-task": ({ n }: { n: number }) => {
          if (n === FAILING) throw new Error(`item ${n} fails on purpose`);
          return { doubled: n * 2 };
        },
      },
      pollWaitMs: 500,
    });
    try {
      await expect.poll(() => bar.getAttribute("aria-valuenow"), { timeout: 20_000 }).toBe(String(ITEMS));
    } finally {
      await worker.stop({ graceMs: 1000 });
    }
    await page.waitForSelector(".status-completed", { timeout: 10_000 });
    expect(await page.locator("ul[aria-label='Runs by status'] li[data-status='CANCELED']").textContent()).toContain(
      "1",
    );
    expect(await page.locator("ul[aria-label='Runs by status'] li[data-status='FAILED']").textContent()).toContain("1");
    expect(await page.locator(`tr[data-run="${first}"]`).getAttribute("data-status")).toBe("CANCELED");
    // Every row reaches its final status too, without a reload.
    const unfinished = "tr[data-run]:is([data-status='QUEUED'], [data-status='EXECUTING'])";
    await expect.poll(() => page.locator(unfinished).count(), { timeout: 10_000 }).toBe(0);
    expect(await page.locator("tr[data-run]").count()).toBe(25);
    await mkdir(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true, animations: "disabled" });
    expect((await readFile(SCREENSHOT)).subarray(1, 4).toString()).toBe("PNG");
  }, 60_000);

  it("a run page shows the run's error with its stack, its payload and its batch", async () => {
    const { page } = signedIn;
    const failed = (await batch.retrieve(batchId)).runs[FAILING]!;
    await page.goto(`${salvo.url}/dashboard/runs/${failed}`);
    await page.waitForSelector("pre.error", { timeout: 10_000 });
    expect(await page.locator("pre.error").textContent()).toContain(`item ${FAILING} fails on purpose`);
    expect(await page.locator("pre.error").textContent()).toContain("at ");
    expect(await page.locator("pre").first().textContent()).toContain(`"n": ${FAILING}`);
    expect(await page.getByRole("link", { name: batchId }).count()).toBe(1);
  }, 30_000);

  it("the queues page shows each queue with its counts, and pauses one", async () => {
    const { page } = signedIn;
    await page.getByRole("link", { name: "Queues" }).click();
    const row = page.locator('tr[data-queue="task/dash-task"]');
    await row.waitFor({ timeout: 10_000 });
    await page.getByRole("button", { name: "Pause queue task/dash-task" }).click();
    await page.getByRole("button", { name: "Resume queue task/dash-task" }).waitFor({ timeout: 10_000 });
    const client = await salvo.api("/trpc/queue.list");
    expect(JSON.stringify(await client.json())).toContain('"paused":true');
  }, 30_000);

  it("a run page follows its run live; the batch page cancels a run, then the batch", async () => {
    const { page } = signedIn;
    const items = [100, 101, 102].map((n) => ({ payload: { n } }));
    const handle = await tasks.batchTrigger("dash-task", items);
    const [watched, one, two] = (await batch.retrieve(handle.batchId)).runs as [string, string, string];
    await page.goto(`${salvo.url}/dashboard/runs/${watched}`);
    await page.locator(".facts .status-queued").waitFor({ timeout: 10_000 });
    await runs.cancel(watched);
    await page.locator(".facts .status-canceled").waitFor({ timeout: 10_000 });

    await page.getByRole("link", { name: handle.batchId }).click();
    await rowStatus(page, one, "QUEUED");
    await page.getByRole("button", { name: `Cancel run ${one}` }).click();
    await rowStatus(page, one, "CANCELED");
    await rowStatus(page, two, "QUEUED");
    await page.getByRole("button", { name: "Cancel batch" }).click();
    await rowStatus(page, two, "CANCELED");
    expect((await runs.retrieve(two)).status).toBe("CANCELED");
    await page.getByRole("button", { name: "Cancel batch" }).waitFor({ state: "detached", timeout: 10_000 });
  }, 30_000);

  it("filters the batches by status", async () => {
    const { page } = signedIn;
    await page.getByRole("link", { name: "Batches" }).click();
    await page.waitForSelector(`tr[data-batch="${batchId}"]`, { timeout: 10_000 });
    await page.getByLabel("Status").selectOption("ABORTED");
    await page.getByText("No batches ABORTED.").waitFor({ timeout: 10_000 });
    await page.getByLabel("Status").selectOption("COMPLETED");
    await page.waitForSelector(`tr[data-batch="${batchId}"]`, { timeout: 10_000 });
    const statuses = await page.locator("tbody tr[data-batch] .status").allTextContents();
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(["COMPLETED"]));
  }, 30_000);

  it("fits a phone's width, and logged no console error", async () => {
    const { page, errors } = signedIn;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${salvo.url}/dashboard/batches/${batchId}`);
    await page.waitForSelector("tr[data-run]", { timeout: 10_000 });
    expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    expect(errors).toEqual([]);
  }, 30_000);

  it("the key travelled only as a header, never in a URL", () => {
    const withKey = requests.filter((r) => r.url.includes(salvo.key));
    expect(withKey).toEqual([]);
    const trpc = requests.filter((r) => new URL(r.url).pathname.startsWith("/trpc/"));
    expect(trpc.length).toBeGreaterThan(5);
    for (const r of trpc) expect(r.authorization).toMatch(/^Bearer /);
  });

  it("a refused key says so at sign-in, and a kept key the server no longer accepts leads back to the form", async () => {
    const { page, errors } = await openPage();
    await page.goto(`${salvo.url}/dashboard/`);
    await page.getByLabel("API key").fill("tr_dev_notakey000000000000");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor({ timeout: 10_000 });
    expect(await page.getByRole("alert").textContent()).toContain("That key was refused");

    await page.evaluate('sessionStorage.setItem("salvo.secretKey", "tr_dev_revoked00000000000000")');
    await page.reload();
    await page.getByLabel("API key").waitFor({ timeout: 10_000 });
    expect(await page.evaluate('sessionStorage.getItem("salvo.secretKey")')).toBeNull();
    // The only errors: the browser's own note of the refused requests.
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => /status of 401/.test(e))).toBe(true);
  }, 30_000);

  it("a #token= link shows its batch read-only without signing in, and is refused for another batch", async () => {
    const { page, errors } = await openPage();
    await page.goto(`${salvo.url}/dashboard/batches/${batchId}#token=${publicToken}`);
    await page.waitForSelector("tr[data-run]", { timeout: 10_000 });
    const bar = page.getByRole("progressbar", { name: "Runs finished" });
    await expect.poll(() => bar.getAttribute("aria-valuenow"), { timeout: 10_000 }).toBe(String(ITEMS));
    expect(await page.getByRole("button", { name: /Cancel/ }).count()).toBe(0);
    expect(await page.getByLabel("API key").count()).toBe(0);
    // Its runs open too, and the page they lead to keeps the token through a reload.
    const runId = (await page.locator("tr[data-run]").first().getAttribute("data-run"))!;
    await page.getByRole("link", { name: runId }).click();
    await page.waitForSelector("h2:text('Payload')", { timeout: 10_000 });
    await page.reload();
    await page.waitForSelector("h2:text('Payload')", { timeout: 10_000 });
    expect(await page.getByRole("button", { name: /Cancel/ }).count()).toBe(0);
    expect(errors).toEqual([]);

    const other = await tasks.batchTrigger("dash-task", [{ payload: { n: 1 } }]);
    await page.goto(`${salvo.url}/dashboard/batches/${other.batchId}#token=${publicToken}`);
    await page.reload();
    await page.getByRole("alert").waitFor({ timeout: 10_000 });
    expect(await page.getByRole("alert").textContent()).toContain("does not give access");
    expect(await page.locator("tr[data-run]").count()).toBe(0);
    // The only errors: the browser's own note of the refused request.
    expect(errors.every((e) => /status of 403/.test(e))).toBe(true);
  }, 30_000);
});
