import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_CSP, dashboardDir, registerDashboard } from "../server/http/dashboard.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * How the server serves the dashboard's build (server/http/dashboard.ts): `/` redirects, the
 * app's files with a strict CSP and cache headers, the app's HTML for its own paths only, and
 * every other route as before. Nothing here touches the database: embedded mode only.
 */
let salvo: TestSalvo;
let assetPath: string;
beforeAll(async () => {
  if (!dashboardDir()) throw new Error("dist/dashboard is missing: run `npm run build` first (npm test does)");
  salvo = await startTestSalvo();
  const html = await (await fetch(`${salvo.url}/dashboard/`)).text();
  assetPath = /<script type="module" crossorigin src="([^"]+)"/.exec(html)?.[1] ?? "";
});
afterAll(() => salvo?.close());

const get = (path: string, init: RequestInit = {}) => fetch(salvo.url + path, { redirect: "manual", ...init });

describe.skipIf(process.env.DATABASE_URL !== undefined)("the dashboard's files", () => {
  it("GET / redirects to /dashboard/", async () => {
    const res = await get("/");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/dashboard/");
  });

  it("serves the app's HTML with a strict CSP, revalidated on every load, for every path of the app", async () => {
    for (const path of [
      "/dashboard",
      "/dashboard/",
      "/dashboard/batches/batch_x",
      "/dashboard/runs/run_x",
      "/dashboard/queues",
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const html = await res.text();
      expect(html).toContain('<div id="root">');
      // No inline script: every <script> has a src on this origin (the CSP would block any other).
      expect(html.match(/<script[^>]*>/g)?.every((tag) => /src="\/dashboard\/assets\//.test(tag))).toBe(true);
    }
    expect(DASHBOARD_CSP).toContain("script-src 'self'");
    expect(DASHBOARD_CSP).toContain("connect-src 'self'");
    expect(DASHBOARD_CSP).not.toContain("unsafe-inline");
  });

  it("serves hashed assets as immutable; a missing asset is a 404, not the app", async () => {
    expect(assetPath).toMatch(/^\/dashboard\/assets\/index-[\w-]+\.js$/);
    const res = await get(assetPath);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect((await res.text()).length).toBeGreaterThan(10_000);
    expect((await get("/dashboard/assets/index-missing.js")).status).toBe(404);
    expect((await get("/dashboard/assets/../../package.json")).status).not.toBe(200);
    expect((await get("/dashboard/%2e%2e/%2e%2e/package.json")).status).not.toBe(200);
    expect((await get(assetPath, { method: "HEAD" })).status).toBe(200);
  });

  it("leaves every other route as it was: REST, tRPC and health answer as before, unknown paths are the JSON 404", async () => {
    const unknown = await get("/api/v1/nope");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: "Not found: GET /api/v1/nope",
      message: "Not found: GET /api/v1/nope",
    });
    expect((await get("/dashboardx")).status).toBe(404);
    expect((await get("/healthz")).status).toBe(200);
    expect(
      (await get("/api/v1/batches/batch_nope", { headers: { authorization: `Bearer ${salvo.key}` } })).status,
    ).toBe(404);
    const trpc = await get("/trpc/queue.list", { headers: { authorization: `Bearer ${salvo.key}` } });
    expect(trpc.status).toBe(200);
    expect(trpc.headers.get("content-security-policy")).toBeNull();
  });

  it("answers 503 with how to build when the build is missing, and serves only files it listed at start", async () => {
    const bare = Fastify();
    registerDashboard(bare, undefined);
    const missing = await bare.inject({ url: "/dashboard/batches/x" });
    expect(missing.statusCode).toBe(503);
    expect(missing.body).toContain("npm run build");

    const dir = await mkdtemp(join(tmpdir(), "salvo-dashboard-"));
    try {
      await writeFile(join(dir, "index.html"), "<!doctype html><title>t</title>");
      const app = Fastify();
      registerDashboard(app, dir);
      await writeFile(join(dir, "later.txt"), "written after start");
      expect((await app.inject({ url: "/dashboard/later.txt" })).body).toContain("<title>t</title>");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
