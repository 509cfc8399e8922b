import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const ORIGIN = "https://attacker.example.com";

/** The CORS decision is made on the path as the router decodes it, not on the bytes sent. */
describe("CORS on percent-encoded paths", () => {
  it("an items stream reached through %69tems gets no CORS headers, as /items does not", async () => {
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
    const { id } = (await created.json()) as { id: string };
    const res = await salvo.api(`/api/v3/batches/${id}/%69tems`, {
      method: "POST",
      headers: { origin: ORIGIN, "content-type": "application/x-ndjson" },
      body: ndjson([{ index: 0, task: "t", payload: {} }]),
    });
    // The router did reach the items handler (the item was accepted)...
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ itemsAccepted: 1 });
    // ...and the answer carries no CORS, exactly like /items.
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-expose-headers")).toBeNull();
  });

  it("encoded forms of the routes without CORS get a 405 preflight; encoded CORS routes keep theirs", async () => {
    const preflight = (path: string) =>
      fetch(salvo.url + path, {
        method: "OPTIONS",
        headers: { origin: ORIGIN, "access-control-request-method": "POST" },
      });
    for (const path of [
      "/api/v3/batches/batch_x/%69tems",
      "/api/v1/batches/batch_x/%72esults",
      "/api/v1/tasks/t/b%61tch",
      "/api/v1/batches/batch_x/resul%74s",
    ]) {
      const res = await preflight(path);
      expect(res.status, path).toBe(405);
      expect(res.headers.get("access-control-allow-origin"), path).toBeNull();
    }
    const results = await salvo.api("/api/v1/batches/batch_x/%72esults", { headers: { origin: ORIGIN } });
    expect(results.status).toBe(404);
    expect(results.headers.get("access-control-allow-origin")).toBeNull();

    const read = await preflight("/api/v2/b%61tches/batch_x");
    expect(read.status).toBe(200);
    expect(read.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    // A %2F inside a segment stays one segment for the router, so it is not the items route.
    const slash = await preflight("/api/v3/batches/batch_x%2Fitems");
    expect(slash.status).toBe(200);
    // A malformed escape reaches no route: no CORS either way.
    const malformed = await salvo.api("/api/v3/batches/%E0%A4%A/items", { headers: { origin: ORIGIN } });
    expect(malformed.status).toBeGreaterThanOrEqual(400);
    expect(malformed.status).toBeLessThan(500);
    expect(malformed.headers.get("access-control-allow-origin")).toBeNull();
  });
});
