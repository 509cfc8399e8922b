import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const ORIGIN = "https://dashboard.example.com";

const preflight = (path: string, requestHeaders = "authorization,content-type") =>
  fetch(salvo.url + path, {
    method: "OPTIONS",
    headers: {
      origin: ORIGIN,
      "access-control-request-method": "POST",
      "access-control-request-headers": requestHeaders,
    },
  });

describe("CORS", () => {
  it("answers a preflight with 200 {}, the reflected origin, methods, echoed headers and max-age 300", async () => {
    for (const path of ["/api/v3/batches", "/api/v1/tasks/batch", "/api/v2/batches/batch_x", "/api/v3/runs/run_x"]) {
      const res = await preflight(path, "authorization,content-type,x-trigger-client");
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual({});
      expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
      expect(res.headers.get("access-control-allow-methods")).toBe("GET,HEAD,PUT,PATCH,POST,DELETE");
      expect(res.headers.get("access-control-allow-headers")).toBe("authorization,content-type,x-trigger-client");
      expect(res.headers.get("access-control-max-age")).toBe("300");
      expect(res.headers.get("vary")).toContain("Origin");
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    }
  });

  it("has no CORS on the items stream, /results and the per-task batch route: their preflight is 405", async () => {
    for (const path of ["/api/v3/batches/batch_x/items", "/api/v1/batches/batch_x/results", "/api/v1/tasks/t/batch"]) {
      const res = await preflight(path);
      expect(res.status, path).toBe(405);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("reflects the Origin and exposes the JWT headers on responses, errors included; never credentials", async () => {
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 }, headers: { origin: ORIGIN } });
    expect(created.status).toBe(202);
    expect(created.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(created.headers.get("access-control-expose-headers")).toBe("x-trigger-jwt,x-trigger-jwt-claims");
    expect(created.headers.get("access-control-allow-credentials")).toBeNull();
    const { id } = (await created.json()) as { id: string };

    const jwt = created.headers.get("x-trigger-jwt")!;
    const read = await fetch(`${salvo.url}/api/v2/batches/${id}`, {
      headers: { origin: ORIGIN, authorization: `Bearer ${jwt}` },
    });
    expect(read.headers.get("access-control-allow-origin")).toBe(ORIGIN);

    const denied = await fetch(`${salvo.url}/api/v2/batches/${id}`, { headers: { origin: ORIGIN } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("access-control-allow-origin")).toBe(ORIGIN);

    const results = await salvo.api(`/api/v1/batches/${id}/results`, { headers: { origin: ORIGIN } });
    expect(results.headers.get("access-control-allow-origin")).toBeNull();
    const noOrigin = await salvo.api(`/api/v2/batches/${id}`);
    expect(noOrigin.headers.get("access-control-allow-origin")).toBeNull();
  });
});
