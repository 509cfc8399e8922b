import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorBody, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// Every batch route refuses callers without an environment's secret key.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const ROUTES: { method: string; path: string; body?: string; type?: string }[] = [
  { method: "POST", path: "/api/v3/batches", body: '{"runCount":1}' },
  {
    method: "POST",
    path: "/api/v3/batches/batch_x/items",
    body: '{"index":0,"task":"t"}\n',
    type: "application/x-ndjson",
  },
  { method: "POST", path: "/api/v1/tasks/t/batch", body: '{"items":[{"payload":1}]}' },
  { method: "POST", path: "/api/v1/tasks/batch", body: '{"items":[{"task":"t"}]}' },
  { method: "POST", path: "/api/v2/tasks/batch", body: '{"items":[{"task":"t"}]}' },
  { method: "POST", path: "/api/v1/tasks/t/trigger", body: '{"payload":1}' },
  { method: "GET", path: "/api/v1/batches/batch_x" },
  { method: "GET", path: "/api/v2/batches/batch_x" },
  { method: "GET", path: "/api/v3/runs/run_x" },
];

async function call(route: (typeof ROUTES)[number], authorization?: string) {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  if (route.body) headers["content-type"] = route.type ?? "application/json";
  const res = await fetch(salvo.url + route.path, { method: route.method, headers, body: route.body });
  return { status: res.status, body: await res.json() };
}

describe.each(ROUTES)("$method $path", (route) => {
  it("401 without Authorization, with another scheme, with an unknown key, with a PAT", async () => {
    const missing = {
      status: 401,
      body: errorBody("Invalid or Missing API key: send Authorization: Bearer <secret key>"),
    };
    expect(await call(route)).toEqual(missing);
    expect(await call(route, `Basic ${Buffer.from("a:b").toString("base64")}`)).toEqual(missing);
    expect(await call(route, "Bearer tr_dev_notARealKeyAtAll1234")).toEqual({
      status: 401,
      body: errorBody("Invalid API key"),
    });
    const pat = await call(route, "Bearer tr_pat_abcdefabcdefabcdefabcdef");
    expect(pat.status).toBe(401);
    expect(pat.body).toEqual(
      errorBody(
        "Personal Access Tokens are not accepted here: this endpoint requires an environment secret key (tr_dev_…, tr_stg_…, tr_prod_…)",
      ),
    );
  });
});

it("the same request with the environment's key is not a 401", async () => {
  const res = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
  expect(res.status).toBe(202);
});
