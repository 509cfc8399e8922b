import { request } from "node:http";
import type { SalvoProcess } from "./salvo-server.js";
import { type BenchItem, TASK } from "./workload.js";

/** Calls to Salvo's REST API the way the SDK or curl makes them; any unexpected answer throws. */

async function postJson<T>(salvo: SalvoProcess, path: string, body: unknown, expect: number[]): Promise<T> {
  const res = await fetch(salvo.url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${salvo.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`POST ${path}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/** `POST /api/v1/tasks/batch`: the one-shot batch. Returns its id. */
export async function triggerBatch(salvo: SalvoProcess, items: BenchItem[]): Promise<string> {
  const body = {
    items: items.map((it) => ({ task: TASK, payload: it.payload, options: { tags: it.tags, idempotencyKey: it.key } })),
  };
  const res = await postJson<{ batchId: string; runs: string[] }>(salvo, "/api/v1/tasks/batch", body, [200]);
  if (res.runs.length !== items.length)
    throw new Error(`one-shot batch answered ${res.runs.length} runs for ${items.length} items`);
  return res.batchId;
}

/** `POST /api/v3/batches`: phase 1 of the two-phase batch. */
export async function createBatch(salvo: SalvoProcess, runCount: number): Promise<string> {
  const res = await postJson<{ id: string }>(salvo, "/api/v3/batches", { runCount }, [202]);
  return res.id;
}

/**
 * `POST /api/v3/batches/{id}/items` with `count` NDJSON items in one request. The body is
 * generated while it is sent, honoring the socket's backpressure, so the bench process never
 * holds the whole body either.
 */
export function streamItems(
  salvo: SalvoProcess,
  batchId: string,
  count: number,
  item: (i: number) => BenchItem,
): Promise<{ itemsAccepted: number; sealed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(`${salvo.url}/api/v3/batches/${batchId}/items`, {
      method: "POST",
      headers: { authorization: `Bearer ${salvo.key}`, "content-type": "application/x-ndjson" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`stream items: ${res.statusCode} ${text.slice(0, 500)}`));
        resolve(JSON.parse(text));
      });
    });
    let i = 0;
    const write = () => {
      while (i < count) {
        const lines: string[] = [];
        for (const end = Math.min(count, i + 500); i < end; i++) {
          const it = item(i);
          lines.push(
            JSON.stringify({
              index: i,
              task: TASK,
              payload: it.payload,
              options: { tags: it.tags, idempotencyKey: it.key },
            }),
          );
        }
        if (!req.write(`${lines.join("\n")}\n`)) return void req.once("drain", write);
      }
      req.end();
    };
    write();
  });
}

/** `GET /api/v1/batches/{id}`: the batch's status. */
export async function getBatchStatus(salvo: SalvoProcess, batchId: string): Promise<string> {
  const res = await fetch(`${salvo.url}/api/v1/batches/${batchId}`, {
    headers: { authorization: `Bearer ${salvo.key}` },
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET batch ${batchId}: ${res.status} ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { status: string }).status;
}
