import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * Error answers say nothing internal: no stack, file path or internal message (tRPC errors carried
 * `data.stack` even on a 401); a 500 says "Internal error" with the request id its log line has.
 * SALVO_DEBUG_ERRORS=1 brings stacks back, for development.
 */
let salvo: TestSalvo;
let debug: TestSalvo;
const log: string[] = [];
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_LOG_LEVEL: "error" }, { logStream: { write: (line) => void log.push(line) } });
  debug = await startTestSalvo({ SALVO_DEBUG_ERRORS: "1" });
});
afterAll(async () => {
  await salvo?.close();
  await debug?.close();
});

const INTERNAL = /\.ts\b|\/work\/|node_modules|at [\w.<>]+ \(|Stored packet|env_/;

/** A run whose offloaded payload is gone: reading it is a server fault (an internal message). */
async function brokenRun(s: TestSalvo): Promise<string> {
  const path = `trigger/packet_broken_${Math.random().toString(36).slice(2)}/payload.json`;
  const presign = await s.api(`/api/v2/packets/${path}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
  });
  const { presignedUrl } = (await presign.json()) as { presignedUrl: string };
  await fetch(presignedUrl, { method: "PUT", headers: { "content-type": "application/json" }, body: "{}" });
  const res = await s.api("/api/v1/tasks/broken/trigger", {
    json: { payload: path, options: { payloadType: "application/store" } },
  });
  const { id } = (await res.json()) as { id: string };
  await s.deps.db.deleteFrom("packets").where("environment_id", "=", s.env.environmentId).execute();
  return id;
}

const trpcGet = (s: TestSalvo, path: string, input: unknown, key = s.key) =>
  fetch(`${s.url}/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, {
    headers: { authorization: `Bearer ${key}` },
  });

describe("error bodies", () => {
  it("tRPC errors carry no stack (a 401, a 400, a 404)", async () => {
    for (const res of [
      await trpcGet(salvo, "run.get", { runId: "run_x" }, "tr_dev_wrongwrongwrongwrongwrong"),
      await trpcGet(salvo, "run.get", { runId: 5 }),
      await trpcGet(salvo, "run.get", { runId: "run_missing" }),
    ]) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      const text = await res.text();
      expect(text).not.toContain("stack");
      expect(text).not.toMatch(INTERNAL);
    }
  });

  it("a 500 says Internal error with the request id that its log line carries (REST and tRPC)", async () => {
    const id = await brokenRun(salvo);
    const rest = await salvo.api(`/api/v3/runs/${id}`);
    expect(rest.status).toBe(500);
    const restBody = (await rest.json()) as { error: string; message: string };
    expect(restBody.error).toMatch(/^Internal error \(request id req_[0-9a-f]{16}\)$/);
    const restId = restBody.error.match(/req_[0-9a-f]+/)![0];
    expect(rest.headers.get("x-request-id")).toBe(restId);

    const trpc = await trpcGet(salvo, "run.get", { runId: id });
    expect(trpc.status).toBe(500);
    const text = await trpc.text();
    expect(text).not.toMatch(INTERNAL);
    expect(text).not.toContain("stack");
    const trpcId = (JSON.parse(text) as { error: { json: { message: string } } }).error.json.message.match(
      /^Internal error \(request id (req_[0-9a-f]{16})\)$/,
    )![1]!;

    for (const requestId of [restId, trpcId]) {
      const line = log.find((l) => l.includes(`"reqId":"${requestId}"`) && l.includes('"level":50'));
      expect(line, `a log line for ${requestId}`).toBeDefined();
      expect(line).toContain("Stored packet");
    }
  });

  it("SALVO_DEBUG_ERRORS=1 puts stacks back in tRPC errors", async () => {
    const res = await trpcGet(debug, "run.get", { runId: "run_missing" });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { json: { data: { stack?: string } } } }).error.json.data.stack).toContain(
      "at ",
    );
  });
});
