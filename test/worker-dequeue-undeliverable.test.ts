import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * A dequeue whose answer cannot be built for one run (its offloaded payload is gone) hands over
 * the others and fails that one with a clear error, in the claim's own transaction: nothing is
 * left claimed by a worker that never heard of it.
 */
let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
beforeAll(async () => {
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());

describe("worker.dequeue with a run it cannot hand over", () => {
  it("delivers the neighbours and fails the bad run, leaving nothing claimed", async () => {
    const task = "undeliverable";
    const path = "trigger/packet_gone_later/payload.json";
    const presign = await salvo.api(`/api/v2/packets/${path}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    expect(presign.status).toBe(200);
    const { presignedUrl } = (await presign.json()) as { presignedUrl: string };
    expect(
      (
        await fetch(presignedUrl, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: '{"big":true}',
        })
      ).status,
    ).toBeLessThan(300);

    const res = await salvo.api("/api/v1/tasks/batch", {
      json: {
        items: [
          { task, payload: 1 },
          { task, payload: path, options: { payloadType: "application/store" } },
          { task, payload: 3 },
        ],
      },
    });
    expect(res.status).toBe(200);
    const { runs } = (await res.json()) as { runs: string[] };
    // The stored packet disappears after the run was accepted (lost storage, an operator's mistake).
    await salvo.deps.db.deleteFrom("packets").where("environment_id", "=", salvo.env.environmentId).execute();

    await client.worker.register.mutate({ workerId: "wu", tasks: [task] });
    const claimed = await client.worker.dequeue.mutate({ workerId: "wu", tasks: [task], max: 3 });
    expect(claimed.map((r) => r.id).sort()).toEqual([runs[0], runs[2]].sort());
    expect(claimed.map((r) => r.payload).sort()).toEqual([1, 3]);

    const bad = await salvo.deps.db
      .selectFrom("runs")
      .select(["status", "error", "lease_owner"])
      .where("id", "=", runs[1]!)
      .executeTakeFirstOrThrow();
    expect(bad.status).toBe("FAILED");
    expect((bad.error as { message: string }).message).toMatch(/could not be handed to a worker/);
    expect(bad.lease_owner).toBeNull();
    expect(await client.worker.dequeue.mutate({ workerId: "wu", tasks: [task], max: 3 })).toEqual([]);
  });
});
