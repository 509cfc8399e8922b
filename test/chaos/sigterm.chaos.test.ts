import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-services.js";
import { newKey, query, type ServerProcess, sleep, startServer } from "./support.js";

// SIGTERM (every deploy sends one) under load: the server stops taking connections, lets
// the requests in flight finish, and exits 0; a request answered 202 committed, one refused
// (connection refused or reset before it was read, or 503 with x-should-retry: true) did not.
let pg: PrivatePostgres;
let server: ServerProcess;
const key = newKey();

beforeAll(async () => {
  pg = await startPrivatePostgres();
  server = await startServer({ DATABASE_URL: pg.url, SALVO_BOOTSTRAP_KEY: key });
});
afterAll(async () => {
  if (server?.child.exitCode === null) await server.kill9();
  await pg?.close();
});

describe("SIGTERM under load (issue 11, defect 4)", () => {
  it("in-flight requests are answered, the server exits 0, and an unanswered request never commits", async () => {
    const requests = Array.from({ length: 30 }, () => randomUUID());
    const answers = requests.map(async (requestKey, i) => {
      await sleep(i * 20);
      try {
        const res = await fetch(`${server.url}/api/v2/tasks/batch`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            "x-trigger-request-idempotency-key": requestKey,
          },
          body: JSON.stringify({ items: Array.from({ length: 500 }, (_, j) => ({ task: "sigterm", payload: { j } })) }),
        });
        return {
          requestKey,
          status: res.status,
          retry: res.headers.get("x-should-retry"),
          error: undefined as string | undefined,
        };
      } catch (err) {
        return { requestKey, status: 0, retry: null, error: String((err as Error).cause ?? err) };
      }
    });
    await sleep(200);
    const exit = server.term();
    const results = await Promise.all(answers);
    expect(await exit).toBe(0);
    expect(server.output()).not.toContain("driver has already been destroyed");

    const committed = new Set(
      (
        await query<{ request_idempotency_key: string }>(
          pg.url,
          "select request_idempotency_key from batches where request_idempotency_key = any($1)",
          [requests],
        )
      ).map((r) => r.request_idempotency_key),
    );
    for (const r of results) {
      if (r.status === 0) {
        // Never read by the server: refused (the listener closed), or sent on an idle keep-alive
        // socket the server closed at SIGTERM (ECONNRESET). Either way it must not have committed.
        expect(r.error, r.requestKey).toMatch(/ECONNREFUSED|ECONNRESET/);
        expect(committed.has(r.requestKey), r.requestKey).toBe(false);
      } else if (r.status === 503) {
        // Arrived on an open connection after SIGTERM: refused, retryable, and nothing written.
        expect(r.retry, r.requestKey).toBe("true");
        expect(committed.has(r.requestKey), r.requestKey).toBe(false);
      } else {
        expect(r.status, r.requestKey).toBe(202);
        expect(committed.has(r.requestKey), r.requestKey).toBe(true);
      }
    }
    expect(results.filter((r) => r.status === 202).length).toBeGreaterThan(0);
  });
});
