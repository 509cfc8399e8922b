import { configure, runs } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, createWorker, type SalvoClient } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

/**
 * Keys named `constructor`, `prototype` and `__proto__` are ordinary data (SuperJSON refuses to
 * write them, which made every read of such a run a 500): stored and read back exactly over REST,
 * tRPC, the SDK and the worker, and never able to change an object's prototype.
 */
let salvo: TestSalvo;
let client: SalvoClient;
beforeAll(async () => {
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterAll(() => salvo?.close());

// As JSON text: an object literal would turn `__proto__` into a prototype, not a key.
const PAYLOAD_JSON = `{"form":{"constructor":"Bob","prototype":{"x":1},"__proto__":{"polluted":true},"~constructor":"tilde"},"list":[{"constructor":{"__proto__":[1]}}]}`;
const METADATA_JSON = `{"__proto__":{"polluted":true},"constructor":"c","prototype":"p"}`;
const OUTPUT_JSON = `{"result":{"__proto__":{"polluted":true},"constructor":{"prototype":2}}}`;
const payload = () => JSON.parse(PAYLOAD_JSON) as Record<string, unknown>;

/** Key order and every own key, `__proto__` included: what JSON.stringify writes. */
const same = (value: unknown, json: string) => expect(JSON.stringify(value)).toBe(JSON.stringify(JSON.parse(json)));

/** Metadata is jsonb, which orders keys its own way: the same own keys and values, in any order. */
const sorted = (value: unknown): unknown =>
  typeof value !== "object" || value === null
    ? value
    : Array.isArray(value)
      ? value.map(sorted)
      : Object.keys(value)
          .sort()
          .map((k) => [k, sorted((value as Record<string, unknown>)[k])]);
const sameMetadata = (value: unknown, json: string) => expect(sorted(value)).toEqual(sorted(JSON.parse(json)));

function assertNoPollution() {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty("polluted");
}

async function triggerRest(task: string) {
  const res = await salvo.api(`/api/v1/tasks/${task}/trigger`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: `{"payload":${PAYLOAD_JSON},"options":{"metadata":${METADATA_JSON}}}`,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

describe("dangerous keys are data", () => {
  it("REST, the SDK and tRPC read back a payload and metadata with such keys exactly", async () => {
    const id = await triggerRest("keys-read");

    const res = await salvo.api(`/api/v3/runs/${id}`);
    expect(res.status).toBe(200);
    const body = JSON.parse(await res.text()) as { payload: unknown; metadata: unknown };
    same(body.payload, PAYLOAD_JSON);
    sameMetadata(body.metadata, METADATA_JSON);

    const viaSdk = await runs.retrieve(id);
    same(viaSdk.payload, PAYLOAD_JSON);

    const viaTrpc = await client.run.get.query({ runId: id });
    same(viaTrpc.payload, PAYLOAD_JSON);
    sameMetadata(viaTrpc.metadata, METADATA_JSON);
    const form = (viaTrpc.payload as { form: object }).form;
    expect(Object.getPrototypeOf(form)).toBe(Object.prototype);
    expect(Object.hasOwn(form, "__proto__")).toBe(true);

    const page = await client.run.list.query({ taskIdentifier: "keys-read" });
    expect(page.items.map((r) => r.id)).toEqual([id]);
    sameMetadata(page.items[0]!.metadata, METADATA_JSON);
    assertNoPollution();
  });

  it("a tRPC caller sends such keys (and Dates beside them) and reads them back", async () => {
    const sent = payload();
    const { id } = await client.task.trigger.mutate({
      task: "keys-trpc",
      payload: sent,
      options: { metadata: JSON.parse(METADATA_JSON) },
    });
    const run = await client.run.get.query({ runId: id });
    same(run.payload, PAYLOAD_JSON);
    sameMetadata(run.metadata, METADATA_JSON);

    const dated = { constructor: { at: new Date(5) }, ok: new Date(7) };
    const { id: datedId } = await client.task.trigger.mutate({ task: "keys-trpc", payload: dated });
    // SuperJSON cannot annotate a value holding such a key: it is kept in its JSON form.
    const back = (await client.run.get.query({ runId: datedId })).payload;
    expect(JSON.stringify(back)).toBe(
      JSON.stringify({ constructor: { at: new Date(5).toISOString() }, ok: new Date(7).toISOString() }),
    );
    assertNoPollution();
  });

  it("worker.dequeue hands such a payload over with its clean neighbours; an output with such keys completes the run", async () => {
    const task = "keys-dequeue";
    await client.worker.register.mutate({ workerId: "wk", tasks: [task] });
    const { runs: ids } = await client.batch.trigger.mutate({
      items: [
        { task, payload: 1 },
        { task, payload: payload(), options: { metadata: JSON.parse(METADATA_JSON) } },
        { task, payload: 3 },
      ],
    });
    const claimed = await client.worker.dequeue.mutate({ workerId: "wk", tasks: [task], max: 3 });
    expect(claimed.map((r) => r.id).sort()).toEqual([...ids].sort());
    const poisoned = claimed.find((r) => r.id === ids[1])!;
    same(poisoned.payload, PAYLOAD_JSON);
    sameMetadata(poisoned.metadata, METADATA_JSON);

    const output = JSON.parse(OUTPUT_JSON);
    expect(await client.worker.complete.mutate({ workerId: "wk", runId: poisoned.id, output })).toEqual({
      accepted: true,
    });
    await client.worker.report.mutate({
      workerId: "wk",
      completed: [{ runId: ids[0]!, output }, { runId: ids[2]! }],
      failed: [],
    });
    for (const id of ids) {
      const run = await client.run.get.query({ runId: id });
      expect(run.status).toBe("COMPLETED");
      if (id !== ids[2]) same(run.output, OUTPUT_JSON);
    }
    const rest = JSON.parse(await (await salvo.api(`/api/v3/runs/${ids[1]}`)).text()) as { output: unknown };
    same(rest.output, OUTPUT_JSON);
    const results = await salvo.api(
      `/api/v1/batches/${(await client.run.get.query({ runId: ids[0]! })).batchId}/results`,
    );
    expect(results.status).toBe(200);
    assertNoPollution();
  });

  it("a worker's handler gets such a payload exactly, and its output with such keys completes the run", async () => {
    const id = await triggerRest("keys-worker");
    let seen: unknown;
    let proto: unknown;
    const worker = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      pollWaitMs: 500,
      tasks: {
        "keys-worker": async (p) => {
          seen = p;
          proto = Object.getPrototypeOf((p as { form: object }).form);
          return JSON.parse(OUTPUT_JSON);
        },
      },
    });
    try {
      await waitFor(
        async () => ((await client.run.get.query({ runId: id })).status === "COMPLETED" ? true : undefined),
        15_000,
        "the run to complete",
      );
    } finally {
      await worker.stop({ graceMs: 1000 });
    }
    same(seen, PAYLOAD_JSON);
    expect(proto).toBe(Object.prototype);
    same((await client.run.get.query({ runId: id })).output, OUTPUT_JSON);
    assertNoPollution();
  });
});
