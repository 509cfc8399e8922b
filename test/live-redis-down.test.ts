import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchWatchMessage, createSalvoClient, type Watched, watchBatch } from "../client/index.js";
import { setRunStatus } from "./support/live.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// Nothing listens on port 1: every publish and subscribe fails, as with Redis down.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ REDIS_URL: "redis://127.0.0.1:1", SALVO_EVENT_POLL_MS: "200" });
});
afterAll(() => salvo?.close());

describe("with Redis down", () => {
  it("subscriptions still receive every change, through the slow poll", async () => {
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 2 } });
    const { id } = (await created.json()) as { id: string };
    const stream = await salvo.api(`/api/v3/batches/${id}/items`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: ndjson([0, 1].map((index) => ({ index, task: "t" }))),
    });
    expect(stream.status).toBe(200);
    const { runs } = await client.batch.get.query({ batchId: id });
    const got: Watched<BatchWatchMessage>[] = [];
    let snapshot!: () => void;
    const started = new Promise<void>((r) => (snapshot = r));
    const done = (async () => {
      for await (const m of watchBatch(client, id)) {
        got.push(m);
        snapshot();
      }
    })();
    await started;
    await setRunStatus(salvo.deps, salvo.env.environmentId, runs, "COMPLETED");
    await done;
    expect(got.at(-1)!.message.batch).toMatchObject({ status: "COMPLETED", final: true, runs: { finished: 2 } });
  }, 60_000);
});
