import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * Electric's HTTP shape protocol as Salvo serves it, request by request: what
 * `@electric-sql/client` relies on (headers, messages, offsets, handles, long polls).
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

interface Message {
  key?: string;
  value?: Record<string, unknown>;
  headers: { operation?: string; control?: string };
}

async function shape(path: string, params: Record<string, string>, init: RequestInit = {}) {
  const res = await salvo.api(`${path}?${new URLSearchParams(params)}`, init);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    messages: (text ? JSON.parse(text) : []) as Message[],
    handle: res.headers.get("electric-handle")!,
    offset: res.headers.get("electric-offset")!,
  };
}

async function batchOf(n: number, task = "proto") {
  const res = await salvo.api("/api/v1/tasks/batch", {
    json: { items: Array.from({ length: n }, (_, i) => ({ task, payload: { i }, options: { tags: [`i${i}`] } })) },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { batchId: string; runs: string[] };
}

const changes = (messages: Message[]) => messages.filter((m) => m.key !== undefined);
const cancel = (runId: string) => salvo.api(`/api/v2/runs/${runId}/cancel`, { method: "POST" });

describe("GET /realtime/v1/batches/{id}", () => {
  it("offset=-1 answers every run as an insert, up-to-date, and the headers the client requires", async () => {
    const { batchId, runs } = await batchOf(3);
    const first = await shape(`/realtime/v1/batches/${batchId}`, { offset: "-1" });
    expect(first.status).toBe(200);
    expect(first.handle).toMatch(/^[0-9a-f]{16}-\d+$/);
    expect(first.offset).toMatch(/^\d+_\d+$/);
    expect(first.headers.get("electric-up-to-date")).not.toBeNull();
    expect(first.headers.get("electric-cursor")).toMatch(/^\d+$/);
    const schema = JSON.parse(first.headers.get("electric-schema")!);
    expect(schema.runTags).toEqual({ type: "text", dims: 1 });
    expect(schema.isTest).toEqual({ type: "bool", not_null: true });
    const rows = changes(first.messages);
    expect(rows.map((m) => m.value!.id)).toEqual(runs);
    expect(rows.every((m) => m.headers.operation === "insert")).toBe(true);
    expect(rows[0]!.key).toBe(`"public"."TaskRun"/"${runs[0]}"`);
    expect(rows[0]!.value).toMatchObject({
      friendlyId: runs[0],
      taskIdentifier: "proto",
      status: "PENDING",
      payload: '{"i":0}',
      payloadType: "application/json",
      runTags: '{"i0"}',
      isTest: "false",
    });
    expect(rows[0]!.value!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
    expect(first.messages.at(-1)).toEqual({ headers: { control: "up-to-date" } });
  });

  it("a resumed subscriber gets exactly what it missed, once, and then waits for the next change", async () => {
    const { batchId, runs } = await batchOf(3);
    const path = `/realtime/v1/batches/${batchId}`;
    const first = await shape(path, { offset: "-1" });
    // Away: one run is canceled meanwhile.
    expect((await cancel(runs[1]!)).status).toBe(200);
    const resumed = await shape(path, { offset: first.offset, handle: first.handle, live: "true" });
    expect(resumed.status).toBe(200);
    expect(changes(resumed.messages).map((m) => [m.value!.id, m.value!.status, m.headers.operation])).toEqual([
      [runs[1], "CANCELED", "update"],
    ]);
    expect(resumed.handle).toBe(first.handle);
    // From its new offset nothing is sent again: the next live request waits for a new change.
    const waiting = shape(path, { offset: resumed.offset, handle: resumed.handle, live: "true" });
    const early = await Promise.race([
      waiting.then(() => "answered"),
      new Promise((r) => setTimeout(r, 500, "waiting")),
    ]);
    expect(early).toBe("waiting");
    expect((await cancel(runs[2]!)).status).toBe(200);
    const next = await waiting;
    expect(changes(next.messages).map((m) => [m.value!.id, m.value!.status])).toEqual([[runs[2], "CANCELED"]]);
    expect(next.messages.at(-1)).toEqual({ headers: { control: "up-to-date" } });
  });

  it("skipColumns leaves columns out of rows and schema; the required ones stay", async () => {
    const { batchId } = await batchOf(1);
    const res = await shape(`/realtime/v1/batches/${batchId}`, {
      offset: "-1",
      skipColumns: "payload,output,id,nonsense",
    });
    const [row] = changes(res.messages);
    expect(row!.value).not.toHaveProperty("payload");
    expect(row!.value).not.toHaveProperty("output");
    expect(row!.value).toHaveProperty("id");
    const schema = JSON.parse(res.headers.get("electric-schema")!);
    expect(schema).not.toHaveProperty("payload");
    expect(schema).toHaveProperty("id");
  });

  it("a handle of another shape is answered 409 must-refetch with a new handle; a bad offset 400", async () => {
    const a = await batchOf(1);
    const b = await batchOf(1);
    const ofA = await shape(`/realtime/v1/batches/${a.batchId}`, { offset: "-1" });
    const stale = await shape(`/realtime/v1/batches/${b.batchId}`, { offset: ofA.offset, handle: ofA.handle });
    expect(stale.status).toBe(409);
    expect(stale.messages).toEqual([{ headers: { control: "must-refetch" } }]);
    expect(stale.handle).toMatch(/^[0-9a-f]{16}-\d+$/);
    expect(stale.handle).not.toBe(ofA.handle);
    const bad = await salvo.api(`/realtime/v1/batches/${a.batchId}?offset=yesterday`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual(expect.objectContaining({ error: expect.stringContaining("offset") }));
  });

  it("pages a large batch: no up-to-date until the last page, every run exactly once", async () => {
    const { batchId, runs } = await batchOf(1000);
    const more = await salvo.api(`/api/v1/tasks/batch`, {
      json: { items: Array.from({ length: 500 }, (_, i) => ({ task: "proto", payload: { j: i } })) },
    });
    expect(more.status).toBe(200);
    const path = `/realtime/v1/batches/${batchId}`;
    const first = await shape(path, { offset: "-1" });
    expect(first.headers.get("electric-up-to-date")).toBeNull();
    expect(changes(first.messages)).toHaveLength(1000);
    const second = await shape(path, { offset: first.offset, handle: first.handle });
    expect(second.headers.get("electric-up-to-date")).not.toBeNull();
    const ids = [...changes(first.messages), ...changes(second.messages)].map((m) => m.value!.id);
    expect(ids).toEqual(runs);
  });

  it("another environment's batch is 404, as an unknown one; no key is 401", async () => {
    const other = await salvo.newEnvironment();
    const res = await salvo.api("/api/v1/tasks/batch", {
      json: { items: [{ task: "proto", payload: 1 }] },
      headers: { authorization: `Bearer ${other.secretKey}` },
    });
    const { batchId } = (await res.json()) as { batchId: string };
    expect((await salvo.api(`/realtime/v1/batches/${batchId}?offset=-1`)).status).toBe(404);
    expect((await salvo.api(`/realtime/v1/batches/batch_doesnotexist?offset=-1`)).status).toBe(404);
    expect(
      (await salvo.api(`/realtime/v1/batches/${batchId}?offset=-1`, { headers: { authorization: "" } })).status,
    ).toBe(401);
  });
});

describe("CORS", () => {
  it("answers preflights and exposes the shape headers to browsers", async () => {
    const pre = await fetch(`${salvo.url}/realtime/v1/batches/batch_x`, {
      method: "OPTIONS",
      headers: {
        origin: "http://app.example",
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization,trigger-version,x-trigger-electric-version",
      },
    });
    expect(pre.status).toBe(200);
    expect(pre.headers.get("access-control-allow-origin")).toBe("http://app.example");
    expect(pre.headers.get("access-control-allow-headers")).toContain("x-trigger-electric-version");
    const { batchId } = await batchOf(1);
    const res = await salvo.api(`/realtime/v1/batches/${batchId}?offset=-1`, {
      headers: { origin: "http://app.example" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBe("http://app.example");
    expect(res.headers.get("access-control-expose-headers")).toContain("electric-offset");
    expect(res.headers.get("access-control-expose-headers")).toContain("electric-handle");
  });
});
