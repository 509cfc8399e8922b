import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * JSON nested deeper than the documented limit (128 levels of arrays and objects) is a 400 that
 * says so, wherever it comes in: REST bodies, payloads the SDK sends as text, metadata, NDJSON
 * items, tRPC input. A NUL in a packet path is a 400 too. None of them a 500.
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels);
const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
const DEEP = /nest(s|ed)? .*deeper than 128 levels/;

async function rest(path: string, body: string, contentType = "application/json") {
  const res = await salvo.api(path, { method: "POST", headers: { "content-type": contentType }, body });
  return { status: res.status, body: (await res.json()) as { error: string } };
}

describe("deeply nested JSON", () => {
  it("REST: payload, metadata and batch bodies nested 10,000 levels are a 400", async () => {
    for (const body of [
      `{"payload":${deep(10_000)}}`,
      `{"payload":${deepObject(10_000)}}`,
      `{"payload":1,"options":{"metadata":{"m":${deep(10_000)}}}}`,
    ]) {
      const res = await rest("/api/v1/tasks/deep/trigger", body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(DEEP);
    }
    const batch = await rest("/api/v1/tasks/batch", `{"items":[{"task":"deep","payload":${deep(100_000)}}]}`);
    expect(batch.status).toBe(400);
    expect(batch.body.error).toMatch(DEEP);
  });

  it("a payload sent as JSON text (as the SDK does) nested too deep is a 400", async () => {
    const res = await salvo.api("/api/v1/tasks/deep/trigger", {
      json: { payload: deep(10_000), options: { payloadType: "application/json" } },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(DEEP);
  });

  it("an NDJSON item nested too deep is a 400 naming its line", async () => {
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 2 } });
    const { id } = (await created.json()) as { id: string };
    const body = `{"index":0,"task":"deep","payload":1}\n{"index":1,"task":"deep","payload":${deep(10_000)}}\n`;
    const res = await rest(`/api/v3/batches/${id}/items`, body, "application/x-ndjson");
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/line 2/);
    expect(res.body.error).toMatch(DEEP);
  });

  it("tRPC input nested too deep is a 400 (POST and GET)", async () => {
    const post = await fetch(`${salvo.url}/trpc/task.trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${salvo.key}`, "content-type": "application/json" },
      body: `{"json":{"task":"deep","payload":${deep(10_000)}}}`,
    });
    expect(post.status).toBe(400);
    expect(await post.text()).toMatch(DEEP);
    const get = await fetch(
      `${salvo.url}/trpc/run.get?input=${encodeURIComponent(`{"json":{"runId":${deep(2_000)}}}`)}`,
      {
        headers: { authorization: `Bearer ${salvo.key}` },
      },
    );
    expect(get.status).toBe(400);
    expect(await get.text()).toMatch(DEEP);
  });

  it("nesting within the limit is accepted and read back", async () => {
    const res = await salvo.api("/api/v1/tasks/deep/trigger", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"payload":${deep(100)}}`,
    });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    const run = (await (await salvo.api(`/api/v3/runs/${id}`)).json()) as { payload: unknown };
    expect(JSON.stringify(run.payload)).toBe(deep(100));
  });

  it("a NUL in a packet path is a 400", async () => {
    const res = await salvo.api("/api/v2/packets/trigger%2Fa%00b.json", {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/NUL/);
    const read = await salvo.api("/api/v1/packets/trigger%2Fa%00b.json");
    expect(read.status).toBe(400);
  });
});
