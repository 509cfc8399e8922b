import { afterAll, beforeAll, expect, it } from "vitest";
import { errorBody, ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// Input Postgres cannot store, or values past what its columns hold: 400 {error}, never 500.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const NUL = "Invalid request: text must not contain NUL (\\u0000) characters";

it.each([
  ["/api/v3/batches", { runCount: 1, idempotencyKey: "x\u0000" }, NUL],
  ["/api/v1/tasks/batch", { items: [{ task: "t\u0000", payload: 1 }] }, NUL],
  ["/api/v1/tasks/t/batch", { items: [{ options: { idempotencyKey: "a\u0000b" } }] }, NUL],
  ["/api/v1/tasks/t/batch", { items: [{ options: { tags: ["a\u0000"] } }] }, NUL],
  ["/api/v1/tasks/t/batch", { items: [{ options: { metadata: { a: "\u0000" } } }] }, NUL],
  ["/api/v1/tasks/t/batch", { items: [{ options: { concurrencyKey: "c\u0000" } }] }, NUL],
  ["/api/v1/tasks/t/trigger", { payload: 1, options: { queue: { name: "q\u0000" } } }, NUL],
  [
    "/api/v1/tasks/t/batch",
    { items: [{ options: { ttl: 1e15 } }] },
    "Invalid request: items[0].options.ttl: ttl must be at most 2147483647 seconds",
  ],
  [
    "/api/v1/tasks/t/batch",
    { items: [{ options: { delay: "9999999d" } }] },
    "Invalid request: items[0].options.delay: delay must be at most 2147483647 seconds",
  ],
  [
    "/api/v1/tasks/t/batch",
    { items: [{ options: { idempotencyKeyTTL: "99999999999d" } }] },
    "Invalid request: items[0].options.idempotencyKeyTTL: idempotencyKeyTTL must be at most 2147483647 seconds",
  ],
])("POST %s %j → 400", async (path, json, error) => {
  const res = await salvo.api(path, { json });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual(errorBody(error));
});

it("a NUL in an id of a read is a 400, in a payload it is stored", async () => {
  for (const path of ["/api/v1/batches/%00", "/api/v2/batches/batch_%00", "/api/v3/runs/run_%00"]) {
    const res = await salvo.api(path);
    expect(res.status, path).toBe(400);
    expect(await res.json()).toEqual(errorBody(NUL));
  }
  const res = await salvo.api("/api/v1/tasks/t/batch", { json: { items: [{ payload: { a: "x\u0000y" } }] } });
  expect(res.status).toBe(200);
  const { runs } = (await res.json()) as { runs: string[] };
  const run = (await (await salvo.api(`/api/v3/runs/${runs[0]}`)).json()) as { payload: unknown };
  expect(run.payload).toEqual({ a: "x\u0000y" });
});

it("a NUL inside a streamed item is a 400 too", async () => {
  const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
  const { id } = (await created.json()) as { id: string };
  const res = await salvo.api(`/api/v3/batches/${id}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson([{ index: 0, task: "t", options: { tags: ["\u0000"] } }]),
  });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual(errorBody(NUL));
});
