import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { errorBody, ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// No worker runs here, so every run stays QUEUED and fills the cap of 5.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_MAX_QUEUED_RUNS: "5" });
});
afterAll(() => salvo?.close());

const FULL = "Cannot trigger t as the queue size limit for this environment has been reached. The maximum size is 5";

async function freshEnv() {
  const env = await salvo.newEnvironment();
  const api = (path: string, init: { json?: unknown; body?: string; contentType?: string } = {}) =>
    fetch(salvo.url + path, {
      method: init.json !== undefined || init.body !== undefined ? "POST" : "GET",
      headers: { authorization: `Bearer ${env.secretKey}`, "content-type": init.contentType ?? "application/json" },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    });
  return { env, api, client: createSalvoClient({ url: salvo.url, apiKey: env.secretKey }) };
}

const items = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ index: from + i, task: "t", payload: { i: from + i } }));

const countRows = async (table: "runs" | "batches", environmentId: string) =>
  Number(
    (
      await salvo.deps.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("environment_id", "=", environmentId)
        .executeTakeFirstOrThrow()
    ).n,
  );

describe("queued-runs cap (SALVO_MAX_QUEUED_RUNS)", () => {
  it("REST two-phase: items over the cap become QUEUE_SIZE_LIMIT_EXCEEDED errors; PARTIAL_FAILED, then ABORTED", async () => {
    const { env, api } = await freshEnv();
    const created = (await (await api("/api/v3/batches", { json: { runCount: 8 } })).json()) as { id: string };
    const res = await api(`/api/v3/batches/${created.id}/items`, {
      body: ndjson(items(8)),
      contentType: "application/x-ndjson",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: created.id, itemsAccepted: 8, itemsDeduplicated: 0, sealed: true });

    const v1 = (await (await api(`/api/v1/batches/${created.id}`)).json()) as Record<string, unknown>;
    expect(v1).toMatchObject({ status: "PARTIAL_FAILED", runCount: 8, successfulRunCount: 5, failedRunCount: 3 });
    expect((v1.runs as string[]).length).toBe(5);
    expect(v1.errors).toEqual(
      [5, 6, 7].map((index) => ({
        index,
        taskIdentifier: "t",
        error: { message: FULL },
        errorCode: "QUEUE_SIZE_LIMIT_EXCEEDED",
      })),
    );
    const v2 = (await (await api(`/api/v2/batches/${created.id}`)).json()) as { processing: { errors: unknown[] } };
    expect(v2.processing.errors).toEqual(
      [5, 6, 7].map((index) => ({ index, taskIdentifier: "t", error: FULL, errorCode: "QUEUE_SIZE_LIMIT_EXCEEDED" })),
    );
    expect(await countRows("runs", env.environmentId)).toBe(5);

    // The queue is full: a whole batch fails to become runs and is ABORTED.
    const second = (await (await api("/api/v3/batches", { json: { runCount: 2 } })).json()) as { id: string };
    await api(`/api/v3/batches/${second.id}/items`, { body: ndjson(items(2)), contentType: "application/x-ndjson" });
    const aborted = (await (await api(`/api/v1/batches/${second.id}`)).json()) as Record<string, unknown>;
    expect(aborted).toMatchObject({ status: "ABORTED", successfulRunCount: 0, failedRunCount: 2, runs: [] });
    expect(await countRows("runs", env.environmentId)).toBe(5);
  });

  it("tRPC: appendItems records the same errors; batch.get shows status, counts and errors", async () => {
    const { client } = await freshEnv();
    const { id } = await client.batch.create.mutate({ runCount: 4 });
    await client.batch.appendItems.mutate({ batchId: id, items: items(3) });
    const last = await client.batch.appendItems.mutate({ batchId: id, items: items(1, 3) });
    expect(last.sealed).toBe(true);
    const other = await client.batch.create.mutate({ runCount: 3 });
    await client.batch.appendItems.mutate({ batchId: other.id, items: items(3) });
    const batch = await client.batch.get.query({ batchId: other.id });
    expect(batch.status).toBe("PARTIAL_FAILED");
    expect(batch.successfulRunCount).toBe(1);
    expect(batch.failedRunCount).toBe(2);
    expect(batch.errors).toEqual(
      [1, 2].map((index) => ({ index, taskIdentifier: "t", error: FULL, errorCode: "QUEUE_SIZE_LIMIT_EXCEEDED" })),
    );
  });

  it("one-shot requests over the cap get 422 and write nothing (REST and tRPC)", async () => {
    const { env, api, client } = await freshEnv();
    const oneShot = (n: number) =>
      api("/api/v1/tasks/t/batch", { json: { items: items(n).map(({ payload }) => ({ payload })) } });
    let res = await oneShot(6);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual(
      errorBody(
        "Queue size limit exceeded: this request would add 6 runs to an environment with room for 5 more (SALVO_MAX_QUEUED_RUNS is 5).",
      ),
    );
    expect(await countRows("batches", env.environmentId)).toBe(0);
    expect(await countRows("runs", env.environmentId)).toBe(0);

    expect((await oneShot(4)).status).toBe(200);
    res = await api("/api/v1/tasks/t/trigger", { json: { payload: {} } });
    expect(res.status).toBe(200);
    res = await api("/api/v1/tasks/t/trigger", { json: { payload: {} } });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual(errorBody(`${FULL} (SALVO_MAX_QUEUED_RUNS).`));

    const err = await client.batch.trigger.mutate({ items: [{ task: "t", payload: 1 }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect((err as TRPCClientError<never>).data).toMatchObject({ code: "UNPROCESSABLE_CONTENT", httpStatus: 422 });
    expect(await countRows("batches", env.environmentId)).toBe(1);
    expect(await countRows("runs", env.environmentId)).toBe(5);
  });
});
