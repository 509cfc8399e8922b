import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorker } from "../client/index.js";
import { buildApp } from "../server/http/app.js";
import type { OpenApiDocument } from "../server/http/openapi.js";
import { operationOf, undocumented } from "./support/documented.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

/**
 * The OpenAPI document (`GET /api/openapi.json`) against the server itself: every route Fastify
 * registers is in it, every documented operation is a route, real answers of every REST route
 * validate against it (status documented, headers present, body matching its schema; every test's
 * `salvo.api` answers are checked the same way, test/support/documented.ts), and the published pages
 * Salvo copies (the seeds, in `../shared/seeds` beside the checkout, as CI has them) find their paths,
 * parameters and status codes in it.
 */
/** The seeds: the public pages Salvo implements, kept beside the checkout (`../shared/seeds`). */
const SEEDS = join(import.meta.dirname, "..", "..", "shared", "seeds");

let salvo: TestSalvo;
let doc: OpenApiDocument;

beforeAll(async () => {
  salvo = await startTestSalvo();
  const res = await fetch(`${salvo.url}/api/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApiDocument;
});
afterAll(() => salvo?.close());

/** `/a/:b/*` and `/a/{b}/{c}` alike: parameters blanked, so Fastify's routes and the document's paths compare. */
const shapeOf = (path: string) => path.replace(/:[^/]+|\{[^}]+\}|\*/g, "{}");
const METHODS = ["get", "post", "put", "delete", "patch"];

describe("the document", () => {
  it("is OpenAPI 3.1 with a documented answer for every operation", () => {
    expect(doc.openapi).toBe("3.1.0");
    const operations = Object.values(doc.paths).flatMap((ops) => Object.values(ops));
    expect(operations.length).toBeGreaterThan(20);
    for (const op of operations) expect(Object.keys(op.responses).length, op.operationId).toBeGreaterThan(0);
  });

  it("has every registered route (tRPC's own aside), and documents no route that does not exist", async () => {
    const registered: string[] = [];
    const app = buildApp(salvo.deps, {
      onRoute: ({ method, url }) => {
        for (const m of [method].flat()) registered.push(`${m} ${url}`);
      },
    });
    await app.ready();
    await app.close();
    const routes = new Set(
      registered
        // HEAD routes are Fastify's copies of GET; OPTIONS answers CORS preflights.
        .filter((r) => !r.startsWith("HEAD ") && !r.startsWith("OPTIONS "))
        .filter((r) => !r.endsWith(" /trpc/:path"))
        .map((r) => {
          const [method, url] = r.split(" ") as [string, string];
          return `${method} ${shapeOf(url)}`;
        }),
    );
    expect(routes.size).toBeGreaterThan(20);
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((m) => METHODS.includes(m))
          .map((m) => `${m.toUpperCase()} ${shapeOf(path)}`),
      ),
    );
    // A new route goes into shared/rest-api.ts's REST_ROUTES, with its parameters and answers.
    expect([...routes].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !routes.has(r))).toEqual([]);
  });

  // The seeds are Trigger.dev's published pages, not ours to commit: they are read where the
  // project's documents live. A clone without them skips this one check; CI always has them.
  it.skipIf(!existsSync(SEEDS))("has the seeds' paths, path parameters and status codes", () => {
    const seeds = seedPages();
    expect(seeds.length).toBeGreaterThanOrEqual(5);
    const found = seeds.flatMap(seedOperations);
    // Every seed documents at least one operation (the plain-text page by its `POST https://…` lines).
    expect(found.map((f) => `${f.method} ${f.path}`).sort()).toEqual(
      expect.arrayContaining([
        "get /api/v1/batches/{batchId}",
        "post /api/v1/tasks/batch",
        "post /api/v1/tasks/{taskIdentifier}/batch",
        "post /api/v3/batches",
        "post /api/v3/batches/{batchId}/items",
      ]),
    );
    for (const seed of found) {
      const op = doc.paths[seed.path]?.[seed.method];
      expect(op, `${seed.method} ${seed.path}`).toBeDefined();
      const pathParams = op!.parameters.filter((p) => p.in === "path").map((p) => p.name);
      for (const name of seed.path.match(/\{([^}]+)\}/g) ?? [])
        expect(pathParams, `${seed.path} parameter`).toContain(name.slice(1, -1));
      for (const status of seed.statuses)
        expect(Object.keys(op!.responses), `${seed.method} ${seed.path} ${status}`).toContain(status);
    }
  });

  it("reads as a page at /docs, self-contained under a strict CSP", async () => {
    const res = await fetch(`${salvo.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).not.toMatch(/unsafe-inline|https?:/);
    const html = await res.text();
    expect(html).not.toMatch(/<script|src="http|href="http/);
    for (const op of ["createBatch", "streamBatchItems", "retrieveBatch", "listRuns"])
      expect(html).toContain(`id="${op}"`);
  });
});

describe("real answers", () => {
  const checked: string[] = [];
  /**
   * Sends a request through `salvo.api`, which holds every answer against the document (status,
   * headers, body: test/support/documented.ts), and records which operation it exercised.
   */
  async function call(method: string, url: string, init: RequestInit & { json?: unknown } = {}) {
    const res = await salvo.api(url, { ...init, method });
    const found = operationOf(method, url);
    expect(found, `no documented operation for ${method} ${url}`).toBeDefined();
    checked.push(`${method} ${found!.template} ${res.status}`);
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, res };
  }

  it("of every REST route, successes and errors, validate against the document", async () => {
    const task = `doc-${Date.now()}`;
    // Two-phase: create (202, then 200 for the same idempotency key), stream in two parts, 415.
    const idempotencyKey = `k-${Date.now()}`;
    const created = await call("POST", "/api/v3/batches", { json: { runCount: 2, idempotencyKey } });
    expect(created.status).toBe(202);
    expect((await call("POST", "/api/v3/batches", { json: { runCount: 2, idempotencyKey } })).status).toBe(200);
    expect((await call("POST", "/api/v3/batches", { json: { runCount: 0 } })).status).toBe(400);
    const batchId = created.body!.id as string;
    const items = (from: number, to: number) =>
      ndjson(Array.from({ length: to - from }, (_, i) => ({ index: from + i, task, payload: { n: from + i } })));
    const stream = (body: string, type = "application/x-ndjson") =>
      call("POST", `/api/v3/batches/${batchId}/items`, { headers: { "content-type": type }, body });
    expect((await stream(items(0, 1))).body).toMatchObject({ sealed: false, enqueuedCount: 1 });
    expect((await stream(items(1, 2))).body).toMatchObject({ sealed: true });
    expect((await stream(items(0, 1), "text/plain")).status).toBe(415);

    // One-shot, three ways; one task fails so the results have both kinds of item.
    const one = await call("POST", `/api/v1/tasks/${task}/batch`, { json: { items: [{ payload: 1 }] } });
    expect(one.status).toBe(200);
    const failing = `${task}-fails`;
    const multi = await call("POST", "/api/v1/tasks/batch", {
      json: {
        items: [
          { task, payload: 2 },
          { task: failing, payload: 3, options: { maxAttempts: 1 } },
        ],
      },
    });
    expect(multi.status).toBe(200);
    expect((await call("POST", "/api/v1/tasks/batch", { json: { items: [{ payload: 1 }] } })).status).toBe(400);
    expect((await call("POST", "/api/v2/tasks/batch", { json: { items: [{ task, payload: 4 }] } })).status).toBe(202);

    const worker = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      pollWaitMs: 500,
      tasks: {
        [task]: async (payload) => ({ echoed: payload }),
        [failing]: async () => {
          throw new Error("fails on purpose");
        },
      },
    });
    const multiId = multi.body!.batchId as string;
    try {
      await waitFor(
        async () => {
          const batch = (await (await salvo.api(`/api/v1/batches/${multiId}`)).json()) as { status: string };
          return batch.status === "COMPLETED" ? true : undefined;
        },
        60_000,
        "the batch COMPLETED",
      );
    } finally {
      await worker.stop({ graceMs: 2000 });
    }

    // Reading batches.
    expect((await call("GET", `/api/v1/batches/${multiId}`)).status).toBe(200);
    expect((await call("GET", `/api/v2/batches/${multiId}`)).status).toBe(200);
    const results = await call("GET", `/api/v1/batches/${multiId}/results`);
    expect((results.body!.items as { ok: boolean }[]).map((i) => i.ok)).toEqual([true, false]);
    expect((await call("GET", "/api/v1/batches/batch_nosuchbatch")).status).toBe(404);

    // Single runs: trigger (delayed), read, reschedule, replay, cancel, list, a finished run's packets.
    const triggered = await call("POST", `/api/v1/tasks/${task}/trigger`, {
      json: { payload: { x: 1 }, options: { delay: "1h", tags: ["doc"] } },
    });
    const runId = triggered.body!.id as string;
    expect((await call("GET", `/api/v3/runs/${runId}`)).status).toBe(200);
    expect((await call("POST", `/api/v1/runs/${runId}/reschedule`, { json: { delay: "2h" } })).status).toBe(200);
    expect((await call("POST", `/api/v1/runs/${runId}/replay`)).status).toBe(200);
    expect((await call("POST", `/api/v2/runs/${runId}/cancel`)).status).toBe(200);
    expect((await call("GET", "/api/v3/runs/run_nosuchrun")).status).toBe(404);
    const finishedRun = (multi.body!.runs as string[])[0]!;
    expect((await call("GET", `/api/v3/runs/${finishedRun}`)).status).toBe(200);
    expect((await call("GET", `/api/v1/runs/${finishedRun}/packets/output`)).status).toBe(200);
    expect((await call("GET", `/api/v1/runs/${finishedRun}/packets/nonsense`)).status).toBe(400);
    expect((await call("GET", "/api/v1/runs?page[size]=2&filter[tag]=doc")).status).toBe(200);
    expect((await call("GET", "/api/v1/runs?page[size]=1000")).status).toBe(400);

    // Packets: presign an upload and a read.
    expect((await call("PUT", "/api/v2/packets/doc/a.json")).status).toBe(200);
    expect((await call("GET", "/api/v1/packets/doc/never-uploaded.json")).status).toBe(404);

    // Public tokens.
    expect((await call("POST", "/api/v1/auth/jwt/claims")).status).toBe(200);
    expect((await call("POST", "/api/v1/auth/public-tokens", { json: { scopes: ["read:runs"] } })).status).toBe(200);
    expect((await call("POST", "/api/v1/auth/public-tokens", { json: { scopes: [] } })).status).toBe(400);

    // Realtime shapes, first request.
    expect((await call("GET", `/realtime/v1/runs/${finishedRun}?offset=-1`)).status).toBe(200);
    expect((await call("GET", `/realtime/v1/batches/${multiId}?offset=-1`)).status).toBe(200);
    expect((await call("GET", "/realtime/v1/runs?tags=doc&offset=-1")).status).toBe(200);

    // Without a key; operations routes.
    expect((await call("GET", `/api/v1/batches/${multiId}`, { headers: { authorization: "" } })).status).toBe(401);
    expect((await call("GET", "/healthz")).status).toBe(200);
    expect((await call("GET", "/readyz")).status).toBe(200);
    expect((await call("GET", "/api/openapi.json")).status).toBe(200);

    // Every REST operation of the document was answered at least once.
    const answered = new Set(checked.map((c) => c.split(" ").slice(0, 2).join(" ")));
    const rest = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const notCalled = [
      "PUT /packets",
      "GET /packets",
      "GET /metrics",
      "GET /docs",
      "GET /",
      "GET /dashboard",
      "GET /dashboard/{path}",
    ];
    expect(rest.filter((r) => !answered.has(r) && !notCalled.includes(r))).toEqual([]);
  }, 120_000);

  it("of a refusal for too many requests validate too, with the documented rate-limit headers", async () => {
    const limited = await startTestSalvo({ SALVO_RATE_LIMIT_MAX: "1", SALVO_RATE_LIMIT_REFILL: "1" });
    try {
      const get = () => limited.api("/api/v1/runs");
      expect((await get()).status).toBe(200);
      // `api` would have thrown for an undocumented status, a missing X-RateLimit-* header or body.
      const refused = await get();
      expect(refused.status).toBe(429);
      expect(await undocumented("GET", "/api/v1/runs", refused)).toBeUndefined();
      expect(Object.keys(doc.paths["/api/v1/runs"]!.get!.responses["429"]!.headers ?? {})).toContain("Retry-After");
    } finally {
      await limited.close();
    }
  });
});

// ---- the seeds ------------------------------------------------------------------------------------

function seedPages(): string[] {
  return readdirSync(SEEDS)
    .filter((f) => /^\d{3}_.*\.txt$/.test(f))
    .map((f) => readFileSync(join(SEEDS, f), "utf8"));
}

/**
 * The operations a seed page documents: from its OpenAPI block, each path, method and response
 * status (the block's indentation is regular: paths at 2 spaces, methods at 4, statuses at 8); from
 * a page without one, each `POST https://api.trigger.dev/…` line.
 */
function seedOperations(page: string): { method: string; path: string; statuses: string[] }[] {
  const found: { method: string; path: string; statuses: string[] }[] = [];
  const block = /````yaml[^\n]*\n([\s\S]*?)````/.exec(page)?.[1];
  if (block) {
    let path: string | undefined;
    let inPaths = false;
    for (const line of block.split("\n")) {
      if (/^\S/.test(line)) inPaths = line.startsWith("paths:");
      if (!inPaths) continue;
      const p = /^ {2}(\/\S*):\s*$/.exec(line);
      if (p) path = p[1];
      const m = /^ {4}(get|post|put|delete|patch):\s*$/.exec(line);
      if (m && path) found.push({ method: m[1]!, path, statuses: [] });
      const s = /^ {8}'?(\d{3})'?:\s*$/.exec(line);
      if (s && found.length > 0) found.at(-1)!.statuses.push(s[1]!);
    }
    return found;
  }
  for (const m of page.matchAll(/^(GET|POST|PUT|DELETE) https:\/\/api\.trigger\.dev(\/\S+)$/gm))
    found.push({ method: m[1]!.toLowerCase(), path: m[2]!, statuses: [] });
  return found;
}
