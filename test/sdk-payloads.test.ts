import { configure, runs, tasks } from "@trigger.dev/sdk";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * Payloads as the published SDK sends them (a SuperJSON string, a plain string, nothing) are
 * stored as sent, and come back decoded: exactly (Dates, Maps, BigInts) through `runs.retrieve`
 * and tRPC `run.get`, and in plain JSON to a REST caller reading `payload` itself.
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterAll(() => salvo?.close());

const rich = () => ({
  at: new Date("2026-01-02T03:04:05.678Z"),
  byUser: new Map<string, number[]>([
    ["u1", [1, 2]],
    ["u2", []],
  ]),
  big: 12345678901234567890n,
  nested: { tags: new Set(["a", "b"]), when: new Date(0) },
});

const storedRun = (id: string) =>
  salvo.deps.db.selectFrom("runs").select(["payload", "payload_type"]).where("id", "=", id).executeTakeFirstOrThrow();

async function restRun(id: string) {
  const res = await salvo.api(`/api/v3/runs/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe("application/super+json", () => {
  it("tasks.trigger: stored as the SDK serialized it; runs.retrieve and tRPC run.get give back the exact value", async () => {
    const payload = rich();
    const handle = await tasks.trigger("rich", payload);

    const row = await storedRun(handle.id);
    expect(row.payload_type).toBe("application/super+json");
    expect(superjson.parse(row.payload!)).toEqual(payload);

    const run = await runs.retrieve(handle.id);
    expect(run.payload).toEqual(payload);
    expect(run.payload.at).toBeInstanceOf(Date);
    expect(run.payload.byUser).toBeInstanceOf(Map);
    expect(typeof run.payload.big).toBe("bigint");

    const trpc = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const viaTrpc = await trpc.run.get.query({ runId: handle.id });
    expect(viaTrpc.payloadType).toBe("application/super+json");
    expect(viaTrpc.payload).toEqual(payload);
    expect((viaTrpc.payload as { byUser: unknown }).byUser).toBeInstanceOf(Map);
  });

  it("tasks.batchTrigger: every item round-trips exactly", async () => {
    const payloads = [rich(), { at: new Date("2030-05-06T07:08:09.000Z"), m: new Map([[1, "one"]]) }];
    const handle = await tasks.batchTrigger(
      "rich",
      payloads.map((payload) => ({ payload })),
    );
    const trpc = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const batch = await trpc.batch.get.query({ batchId: handle.batchId });
    expect(batch.runs).toHaveLength(2);
    for (const [i, runId] of batch.runs.entries()) {
      expect((await runs.retrieve(runId)).payload).toEqual(payloads[i]);
    }
  });

  it("REST: payload is the plain-JSON form (Dates as ISO text), plus a presigned URL holding the exact SuperJSON", async () => {
    const handle = await tasks.trigger("rich", { at: new Date("2026-01-02T03:04:05.678Z"), m: new Map([["k", 1]]) });
    const body = await restRun(handle.id);
    expect(body.payload).toEqual({ at: "2026-01-02T03:04:05.678Z", m: [["k", 1]] });
    const res = await fetch(String(body.payloadPresignedUrl)); // no Authorization: the URL is the credential
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/super+json");
    expect(superjson.parse(await res.text())).toEqual({
      at: new Date("2026-01-02T03:04:05.678Z"),
      m: new Map([["k", 1]]),
    });
  });

  it("a payload plain JSON can hold exactly is inline only: no presigned URL, no extra fetch", async () => {
    const payload = { n: 1, s: "x", list: [true, null], deep: { a: [] } };
    const handle = await tasks.trigger("plain", payload);
    expect((await storedRun(handle.id)).payload_type).toBe("application/super+json");
    const body = await restRun(handle.id);
    expect(body.payload).toEqual(payload);
    expect(body).not.toHaveProperty("payloadPresignedUrl");
    expect((await runs.retrieve(handle.id)).payload).toEqual(payload);
  });
});

describe("tRPC callers (superjson transport)", () => {
  it("task.trigger and batch.trigger with Dates and Maps: stored as SuperJSON, read back exactly by tRPC and the SDK", async () => {
    const trpc = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const payload = rich();
    const { id } = await trpc.task.trigger.mutate({ task: "typed", payload });
    expect((await storedRun(id)).payload_type).toBe("application/super+json");
    expect((await trpc.run.get.query({ runId: id })).payload).toEqual(payload);
    expect((await runs.retrieve(id)).payload).toEqual(payload);

    const { runs: runIds } = await trpc.batch.trigger.mutate({
      items: [
        { task: "typed", payload },
        { task: "typed", payload: { plain: 1 } },
      ],
    });
    expect((await trpc.run.get.query({ runId: runIds[0]! })).payload).toEqual(payload);
    expect(await storedRun(runIds[1]!)).toEqual({ payload: '{"plain":1}', payload_type: "application/json" });
  });
});

describe("text/plain, absent and plain JSON payloads", () => {
  it("a string payload is sent and stored verbatim as text/plain", async () => {
    const handle = await tasks.trigger("text", 'not {json} "at all"');
    expect(await storedRun(handle.id)).toEqual({ payload: 'not {json} "at all"', payload_type: "text/plain" });
    expect((await runs.retrieve(handle.id)).payload).toBe('not {json} "at all"');
    expect((await restRun(handle.id)).payload).toBe('not {json} "at all"');
  });

  it("an absent payload stays absent: no payload key, never null", async () => {
    const handle = await tasks.trigger("nothing", undefined);
    expect(await storedRun(handle.id)).toEqual({ payload: null, payload_type: "application/json" });
    const body = await restRun(handle.id);
    expect(body).not.toHaveProperty("payload");
    expect((await runs.retrieve(handle.id)).payload).toBeUndefined();
  });

  it("a REST caller's raw JSON value is stored as application/json and read back unchanged", async () => {
    const res = await salvo.api("/api/v1/tasks/raw/trigger", { json: { payload: { to: "a@example.com", n: [1, 2] } } });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    expect(await storedRun(id)).toEqual({
      payload: '{"to":"a@example.com","n":[1,2]}',
      payload_type: "application/json",
    });
    expect((await runs.retrieve(id)).payload).toEqual({ to: "a@example.com", n: [1, 2] });
  });

  it("an explicit application/json string payload (the SDK's fallback when SuperJSON fails) is parsed", async () => {
    const res = await salvo.api("/api/v1/tasks/raw/trigger", {
      json: { payload: '{"a":[1,2,3]}', options: { payloadType: "application/json" } },
    });
    const { id } = (await res.json()) as { id: string };
    expect((await runs.retrieve(id)).payload).toEqual({ a: [1, 2, 3] });
  });
});

describe("output", () => {
  it("a SuperJSON output comes back exactly through runs.retrieve, and as plain JSON inline", async () => {
    const handle = await tasks.trigger("with-output", { n: 1 });
    const output = { doneAt: new Date("2026-03-04T05:06:07.000Z"), counts: new Map([["ok", 3]]) };
    // Executing is the workers' job (worker tests); this test is about the output's encoding, so the
    // finished state is written directly.
    await salvo.deps.db
      .updateTable("runs")
      .set({
        status: "COMPLETED",
        output: superjson.stringify(output),
        output_type: "application/super+json",
        finished_at: new Date(),
      })
      .where("id", "=", handle.id)
      .execute();
    const run = await runs.retrieve(handle.id);
    expect(run.status).toBe("COMPLETED");
    expect(run.output).toEqual(output);
    expect(run.output.counts).toBeInstanceOf(Map);
    const body = await restRun(handle.id);
    expect(body.output).toEqual({ doneAt: "2026-03-04T05:06:07.000Z", counts: [["ok", 3]] });
    expect(typeof body.outputPresignedUrl).toBe("string");
  });
});
