import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startChildSalvo } from "./support/child-server.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * One request cannot make a huge error or exhaust memory: validation stops after 20 issues and
 * the error lists at most those, whatever the number of invalid items (100,000 invalid items once
 * made a 40 MB tRPC error; 2 M killed a server with a 1 GB heap).
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_MAX_ONESHOT_ITEMS: "1000000" });
});
afterAll(() => salvo?.close());

const SMALL = 8 * 1024;
const invalidItems = (n: number) => `[${Array.from({ length: n }, () => "1").join(",")}]`;

async function post(url: string, body: string, key: string, contentType = "application/json") {
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": contentType },
    body,
  });
  return { status: res.status, text: await res.text() };
}

function expectSmallValidationError(answer: { status: number; text: string }) {
  expect(answer.status).toBe(400);
  expect(answer.text.length).toBeLessThan(SMALL);
  expect(answer.text).toMatch(/validation stops at 20 issues/);
}

describe("validation errors are bounded", () => {
  it("100,000 invalid items: REST one-shot, tRPC batch.trigger and appendItems answer a small 400", async () => {
    expectSmallValidationError(
      await post(`${salvo.url}/api/v1/tasks/batch`, `{"items":${invalidItems(100_000)}}`, salvo.key),
    );
    expectSmallValidationError(
      await post(`${salvo.url}/trpc/batch.trigger`, `{"json":{"items":${invalidItems(100_000)}}}`, salvo.key),
    );
    const { id } = (await (await salvo.api("/api/v3/batches", { json: { runCount: 10 } })).json()) as { id: string };
    expectSmallValidationError(
      await post(
        `${salvo.url}/trpc/batch.appendItems`,
        `{"json":{"batchId":"${id}","items":${invalidItems(100_000)}}}`,
        salvo.key,
      ),
    );
  });

  it("an item's own lists (tags) and a worker's lists are bounded too", async () => {
    const tags = JSON.stringify(Array.from({ length: 100_000 }, () => 1));
    const res = await post(
      `${salvo.url}/api/v1/tasks/t/trigger`,
      `{"payload":1,"options":{"tags":${tags}}}`,
      salvo.key,
    );
    expect(res.status).toBe(400);
    expect(res.text.length).toBeLessThan(SMALL);
    const runIds = JSON.stringify(Array.from({ length: 1_000 }, () => 1));
    const hb = await post(
      `${salvo.url}/trpc/worker.heartbeat`,
      `{"json":{"workerId":"w","runIds":${runIds}}}`,
      salvo.key,
    );
    expectSmallValidationError(hb);
  });

  it("NDJSON: a stream of invalid items answers a small 400", async () => {
    const { id } = (await (await salvo.api("/api/v3/batches", { json: { runCount: 100_000 } })).json()) as {
      id: string;
    };
    const body = Array.from({ length: 100_000 }, (_, i) => `{"index":${i}}`).join("\n");
    const res = await post(`${salvo.url}/api/v3/batches/${id}/items`, body, salvo.key, "application/x-ndjson");
    expect(res.status).toBe(400);
    expect(res.text.length).toBeLessThan(SMALL);
  });
});

/** Peak resident memory (VmHWM) of a process and its descendants (tsx runs the server in a child), in MB. */
function peakRssMb(pid: number): number {
  let peak = 0;
  const visit = (p: number) => {
    const status = readFileSync(`/proc/${p}/status`, "utf8");
    peak = Math.max(peak, Number(status.match(/VmHWM:\s+(\d+) kB/)![1]) / 1024);
    for (const child of readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean))
      visit(Number(child));
  };
  visit(pid);
  return peak;
}

const HEAP_MB = 384;
const RSS_BOUND_MB = 800;

describe.skipIf(!process.env.DATABASE_URL || !process.env.REDIS_URL)("a 32 MiB body of invalid items", () => {
  it(`gets a small 400 from a server with a ${HEAP_MB} MB heap, whose RSS stays under ${RSS_BOUND_MB} MB`, async () => {
    const child = await startChildSalvo(
      { DATABASE_URL: process.env.DATABASE_URL!, REDIS_URL: process.env.REDIS_URL! },
      { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}`, SALVO_MAX_ONESHOT_ITEMS: "100000000" },
    );
    try {
      const count = Math.floor((32 * 1024 * 1024 - 64) / 2);
      const items = invalidItems(count);
      expectSmallValidationError(await post(`${child.url}/api/v1/tasks/batch`, `{"items":${items}}`, salvo.key));
      expectSmallValidationError(
        await post(`${child.url}/trpc/batch.trigger`, `{"json":{"items":${items}}}`, salvo.key),
      );
      expect((await fetch(`${child.url}/healthz`)).status).toBe(200);
      const peak = peakRssMb(child.process.pid!);
      console.log(`child server peak RSS: ${peak.toFixed(0)} MB`);
      expect(peak).toBeLessThan(RSS_BOUND_MB);
    } finally {
      await child.close();
    }
  }, 120_000);
});
