import { randomBytes } from "node:crypto";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppRouter, createSalvoClient, type SalvoClient } from "../client/index.js";
import { ConfigError, loadConfig } from "../server/config.js";
import { deleteExpired, LIMITS } from "../server/lifecycle/retention.js";
import { putPacket } from "../server/packets/store.js";
import { ownDatabase } from "./support/own-database.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

const trpcCode = async (call: Promise<unknown>) => {
  try {
    await call;
  } catch (err) {
    if (err instanceof TRPCClientError) return (err as TRPCClientError<AppRouter>).data?.code;
    throw err;
  }
  return "OK";
};

describe("run retention (server/lifecycle/retention.ts)", () => {
  let salvo: TestSalvo;
  let client: SalvoClient;
  let database: Awaited<ReturnType<typeof ownDatabase>>;
  beforeAll(async () => {
    database = await ownDatabase();
    // The timer is off ("0"): these tests call a pass themselves, with the cutoff they need.
    // A short seal timeout makes an ABORTED batch whose run goes on (see the test of that).
    salvo = await startTestSalvo({ ...database.env, SALVO_RUN_RETENTION: "0", SALVO_BATCH_SEAL_TIMEOUT_MS: "300" });
    client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  });
  afterAll(async () => {
    await salvo?.close();
    await database?.drop();
  });

  const pass = (limits = LIMITS) => deleteExpired(salvo.deps.db, new Date(), { limits });
  const rest = async (path: string) => {
    const res = await salvo.api(path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const readBatch = (id: string) => rest(`/api/v1/batches/${id}`);
  const readRun = (id: string) => rest(`/api/v3/runs/${id}`);
  const count = async (table: "batch_items" | "events", column: "batch_id" | "run_id", ids: string[]) =>
    Number(
      (
        await salvo.deps.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as("n"))
          .where(column, "in", ids)
          .executeTakeFirstOrThrow()
      ).n,
    );
  const finishedBatch = async (items: number, options: Record<string, unknown> = {}) => {
    const batch = await client.batch.trigger.mutate({
      items: Array.from({ length: items }, (_, i) => ({ task: "kept-or-not", payload: { i } })),
      ...options,
    });
    await client.batch.cancel.mutate({ batchId: batch.batchId });
    expect((await client.batch.get.query({ batchId: batch.batchId })).status).toBe("COMPLETED");
    return batch;
  };

  it("deletes an old finished batch with its runs, ledger items and events; reads answer 404 as for an unknown id", async () => {
    const batch = await finishedBatch(3);
    const single = await client.task.trigger.mutate({ task: "kept-or-not", payload: 1 });
    await client.run.cancel.mutate({ runId: single.id });
    const runIds = [...batch.runs, single.id];
    expect(await count("events", "run_id", runIds)).toBeGreaterThan(0);

    const deleted = await pass();
    expect(deleted).toMatchObject({ batches: 1, runs: 4, items: 3 });

    const unknownBatch = await readBatch("batch_unknownunknownunknow");
    expect(await readBatch(batch.batchId)).toEqual({
      status: 404,
      body: JSON.parse(JSON.stringify(unknownBatch.body).replaceAll("batch_unknownunknownunknow", batch.batchId)),
    });
    const unknownRun = await readRun("run_unknownunknownunknown");
    for (const runId of runIds) {
      expect(await readRun(runId)).toEqual({
        status: 404,
        body: JSON.parse(JSON.stringify(unknownRun.body).replaceAll("run_unknownunknownunknown", runId)),
      });
      expect(await trpcCode(client.run.get.query({ runId }))).toBe("NOT_FOUND");
    }
    expect(await trpcCode(client.batch.get.query({ batchId: batch.batchId }))).toBe("NOT_FOUND");
    expect(await trpcCode(client.batch.results.query({ batchId: batch.batchId }))).toBe("NOT_FOUND");
    const listed = await client.batch.list.query({ limit: 100 });
    expect(listed.items.map((b) => b.id)).not.toContain(batch.batchId);

    expect(await count("batch_items", "batch_id", [batch.batchId])).toBe(0);
    expect(await count("events", "batch_id", [batch.batchId])).toBe(0);
    expect(await count("events", "run_id", runIds)).toBe(0);
    expect(await salvo.deps.db.selectFrom("batch_deletions").selectAll().execute()).toEqual([]);
  });

  it("keeps a batch that has an unfinished run, with its finished runs, and runs that are not final", async () => {
    const batch = await client.batch.trigger.mutate({
      items: [
        { task: "kept-or-not", payload: 1 },
        { task: "kept-or-not", payload: 2 },
      ],
    });
    await client.run.cancel.mutate({ runId: batch.runs[0]! });
    await pass();
    const read = await readBatch(batch.batchId);
    expect(read.status).toBe(200);
    expect(read.body.runs).toEqual(batch.runs);
    expect((await readRun(batch.runs[0]!)).body.status).toBe("CANCELED");
    expect((await readRun(batch.runs[1]!)).body.status).toBe("QUEUED");

    // Once its last run is final, it goes.
    await client.batch.cancel.mutate({ batchId: batch.batchId });
    await pass();
    expect((await readBatch(batch.batchId)).status).toBe(404);
    expect((await readRun(batch.runs[0]!)).status).toBe(404);
  });

  it("keeps an ABORTED batch while a run it created goes on", async () => {
    const { id } = await client.batch.create.mutate({ runCount: 2 });
    const appended = await client.batch.appendItems.mutate({
      batchId: id,
      items: [{ index: 0, task: "kept-or-not", payload: 0 }],
    });
    expect(appended).toBeDefined();
    const batch = await waitFor(
      async () => {
        const read = await client.batch.get.query({ batchId: id });
        return read.status === "ABORTED" ? read : undefined;
      },
      10_000,
      "the seal timeout",
    );
    await pass();
    expect((await readBatch(id)).status).toBe(200);
    await client.run.cancel.mutate({ runId: batch.runs[0]! });
    await pass();
    expect((await readBatch(id)).status).toBe(404);
  });

  it("keeps what finished after the cutoff", async () => {
    const cutoff = new Date();
    const batch = await finishedBatch(2);
    const early = await deleteExpired(salvo.deps.db, cutoff);
    expect(early).toMatchObject({ batches: 0, runs: 0 });
    expect((await readBatch(batch.batchId)).status).toBe(200);
    await pass();
    expect((await readBatch(batch.batchId)).status).toBe(404);
  });

  it("keeps a finished run that another batch still names, until that batch goes too", async () => {
    const key = `shared-${randomBytes(4).toString("hex")}`;
    const first = await client.batch.trigger.mutate({
      items: [{ task: "kept-or-not", payload: "shared", options: { idempotencyKey: key } }],
    });
    await client.batch.cancel.mutate({ batchId: first.batchId });
    const shared = first.runs[0]!;
    // A second batch resolves its first item to the same run (idempotency key) and has one of its own.
    const second = await client.batch.trigger.mutate({
      items: [
        { task: "kept-or-not", payload: "shared", options: { idempotencyKey: key } },
        { task: "kept-or-not", payload: "own" },
      ],
    });
    expect(second.runs[0]).toBe(shared);

    await pass();
    expect((await readBatch(first.batchId)).status).toBe(404);
    expect((await readRun(shared)).body.status).toBe("CANCELED");
    const read = await readBatch(second.batchId);
    expect(read.body.runs).toEqual(second.runs);

    await client.batch.cancel.mutate({ batchId: second.batchId });
    expect((await client.batch.get.query({ batchId: second.batchId })).status).toBe("COMPLETED");
    await pass();
    expect((await readBatch(second.batchId)).status).toBe(404);
    expect((await readRun(shared)).status).toBe(404);
  });

  it("keeps a final batch while its parent run has not finished", async () => {
    const parent = await client.task.trigger.mutate({ task: "parent", payload: 0 });
    const batch = await finishedBatch(1, { parentRunId: parent.id, resumeParentOnCompletion: true });
    await pass();
    expect((await readBatch(batch.batchId)).status).toBe(200);
    expect((await readRun(batch.runs[0]!)).status).toBe(200);

    await client.run.cancel.mutate({ runId: parent.id });
    await pass();
    expect((await readBatch(batch.batchId)).status).toBe(404);
    expect((await readRun(parent.id)).status).toBe(404);
  });

  it("deletes an offloaded payload's packet with the last run that names it (a replay shares it)", async () => {
    const path = `trigger/packet_${randomBytes(6).toString("hex")}/payload.json`;
    await putPacket(salvo.deps.db, salvo.env.environmentId, path, "application/json", Buffer.from('{"big":true}'));
    const original = await client.task.trigger.mutate({
      task: "offloaded",
      payload: path,
      options: { payloadType: "application/store" },
    });
    const replay = await client.run.replay.mutate({ runId: original.id });
    await client.run.cancel.mutate({ runId: original.id });
    const packet = () => salvo.deps.db.selectFrom("packets").select("path").where("path", "=", path).executeTakeFirst();

    await pass();
    expect((await readRun(original.id)).status).toBe(404);
    expect(await packet()).toBeDefined();
    expect((await readRun(replay.id)).status).toBe(200);

    await client.run.cancel.mutate({ runId: replay.id });
    expect(await pass()).toMatchObject({ runs: 1, packets: 1 });
    expect(await packet()).toBeUndefined();
  });

  it("finishes a batch whose row went but whose ledger a stopped server left (batch_deletions)", async () => {
    // What a server killed between the batch's row and its last ledger slice leaves behind.
    const batch = await finishedBatch(3);
    await salvo.deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("batches").where("id", "=", batch.batchId).execute();
      await trx
        .insertInto("batch_deletions")
        .values({ batch_id: batch.batchId, environment_id: salvo.env.environmentId })
        .execute();
    });
    expect(await count("batch_items", "batch_id", [batch.batchId])).toBe(3);
    expect(await pass()).toMatchObject({ items: 3, runs: 3 });
    expect(await count("batch_items", "batch_id", [batch.batchId])).toBe(0);
    expect(await count("events", "batch_id", [batch.batchId])).toBe(0);
    expect(await salvo.deps.db.selectFrom("batch_deletions").selectAll().execute()).toEqual([]);
  });

  it("works in small transactions, and two passes at once delete each row once", async () => {
    const batches = await Promise.all([finishedBatch(7), finishedBatch(5)]);
    const small = { batches: 1, runs: 2, slice: 2, passMs: 30_000 };
    const [a, b] = await Promise.all([pass(small), pass(small)]);
    expect(a.batches + b.batches).toBe(2);
    expect(a.items + b.items).toBe(12);
    expect(a.runs + b.runs).toBe(12);
    for (const batch of batches) {
      expect((await readBatch(batch.batchId)).status).toBe(404);
      expect(await count("batch_items", "batch_id", [batch.batchId])).toBe(0);
    }
  });
});

describe("the retention task (SALVO_RUN_RETENTION, SALVO_RETENTION_INTERVAL_MS)", () => {
  it("deletes a finished batch and its runs once they are older than the retention", async () => {
    const database = await ownDatabase();
    const salvo = await startTestSalvo({
      ...database.env,
      SALVO_RUN_RETENTION: "1s",
      SALVO_RETENTION_INTERVAL_MS: "100",
    });
    try {
      const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
      const batch = await client.batch.trigger.mutate({ items: [{ task: "short-lived", payload: 1 }] });
      await client.batch.cancel.mutate({ batchId: batch.batchId });
      expect((await salvo.api(`/api/v1/batches/${batch.batchId}`)).status).toBe(200);
      const gone = (path: string) => async () => (await salvo.api(path)).status === 404 || undefined;
      await waitFor(gone(`/api/v1/batches/${batch.batchId}`), 10_000, "the batch to be deleted");
      await waitFor(gone(`/api/v3/runs/${batch.runs[0]}`), 10_000, "its run to be deleted");
      const metrics = await (await fetch(`${salvo.url}/metrics`)).text();
      expect(Number(/^salvo_retention_deleted_total\{kind="runs"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      await salvo.close();
      await database.drop();
    }
  });
});

describe("retention configuration", () => {
  it("reads a duration, 0 keeps everything, anything else stops the start with a clear message", () => {
    expect(loadConfig({}).retention).toEqual({ runMs: 30 * 86_400_000, intervalMs: 60_000 });
    expect(loadConfig({ SALVO_RUN_RETENTION: "12h", SALVO_RETENTION_INTERVAL_MS: "5000" }).retention).toEqual({
      runMs: 12 * 3_600_000,
      intervalMs: 5_000,
    });
    expect(loadConfig({ SALVO_RUN_RETENTION: "0" }).retention.runMs).toBe(0);
    for (const bad of ["30", "forever", "-1d", "1 day"]) {
      expect(() => loadConfig({ SALVO_RUN_RETENTION: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ SALVO_RUN_RETENTION: bad })).toThrow(/SALVO_RUN_RETENTION must be a duration/);
    }
    expect(() => loadConfig({ SALVO_RETENTION_INTERVAL_MS: "5" })).toThrow(
      /SALVO_RETENTION_INTERVAL_MS must be at least 10/,
    );
  });
});
