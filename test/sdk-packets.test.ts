import { configure, runs, tasks } from "@trigger.dev/sdk";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { resolvePacket } from "../server/packets/codec.js";
import { signPacketToken } from "../server/packets/urls.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * Large payloads: the SDK uploads any serialized payload of 128 KiB or more through
 * `PUT /api/v2/packets/{path}` and a presigned URL, then triggers with a store reference.
 */
const MAX_PACKET_BYTES = 300 * 1024;
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_MAX_PACKET_BYTES: String(MAX_PACKET_BYTES) });
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterAll(() => salvo?.close());

/** ~200 KiB once serialized, with a Date so the SuperJSON types are checked too. */
const bigPayload = (tag: string) => ({
  tag,
  at: new Date("2026-02-03T04:05:06.007Z"),
  blob: `${tag}:`.padEnd(200 * 1024, "x"),
});

const storedRun = (id: string) =>
  salvo.deps.db.selectFrom("runs").select(["payload", "payload_type"]).where("id", "=", id).executeTakeFirstOrThrow();

async function expectOffloadedRun(runId: string, payload: ReturnType<typeof bigPayload>) {
  const row = await storedRun(runId);
  expect(row.payload_type).toBe("application/store");
  expect(row.payload).toMatch(/payload\.json$/);
  const packet = await salvo.deps.db
    .selectFrom("packets")
    .select(["content_type", "size"])
    .where("environment_id", "=", salvo.env.environmentId)
    .where("path", "=", row.payload!)
    .executeTakeFirstOrThrow();
  expect(packet.content_type).toBe("application/super+json");
  expect(packet.size).toBeGreaterThanOrEqual(200 * 1024);

  // What a worker gets (the function the dequeue calls), what the SDK gets, what tRPC gets.
  expect(
    await resolvePacket(salvo.deps.db, salvo.env.environmentId, { data: row.payload, type: row.payload_type }),
  ).toEqual(payload);
  expect((await runs.retrieve(runId)).payload).toEqual(payload);
  const trpc = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  expect((await trpc.run.get.query({ runId })).payload).toEqual(payload);

  // REST: like Trigger.dev, an offloaded payload is a presigned URL, not an inline value.
  const body = (await (await salvo.api(`/api/v3/runs/${runId}`)).json()) as Record<string, unknown>;
  expect(body).not.toHaveProperty("payload");
  expect(String(body.payloadPresignedUrl)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/packets\?token=/);
}

describe("200 KiB payloads through the SDK", () => {
  it("tasks.trigger offloads, and the run resolves the packet intact", async () => {
    const payload = bigPayload("single");
    const handle = await tasks.trigger("big", payload);
    await expectOffloadedRun(handle.id, payload);
  });

  it("tasks.batchTrigger offloads each large item; small ones stay inline", async () => {
    const payloads = [bigPayload("first"), { small: true }, bigPayload("third")];
    const handle = await tasks.batchTrigger(
      "big",
      payloads.map((payload) => ({ payload })),
    );
    const trpc = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const { runs: runIds } = await trpc.batch.get.query({ batchId: handle.batchId });
    expect(runIds).toHaveLength(3);
    await expectOffloadedRun(runIds[0]!, payloads[0] as ReturnType<typeof bigPayload>);
    await expectOffloadedRun(runIds[2]!, payloads[2] as ReturnType<typeof bigPayload>);
    expect((await storedRun(runIds[1]!)).payload_type).toBe("application/super+json");
    expect((await runs.retrieve(runIds[1]!)).payload).toEqual({ small: true });
  });
});

describe("the packet endpoints over HTTP", () => {
  async function presignUpload(path: string) {
    // As the SDK sends it: PUT, Content-Type: application/json, no body.
    const res = await salvo.api(`/api/v2/packets/${encodeURIComponent(path)}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { presignedUrl: string; storagePath: string };
  }

  it("upload, then read back through GET /api/v1/packets/{path}: the bytes and their Content-Type", async () => {
    const { presignedUrl, storagePath } = await presignUpload("trigger/packet_http1/payload.json");
    expect(storagePath).toBe("trigger/packet_http1/payload.json");
    const bytes = superjson.stringify({ d: new Date(5) });
    const put = await fetch(presignedUrl, {
      method: "PUT",
      headers: { "content-type": "application/super+json" },
      body: bytes,
    });
    expect(put.status).toBe(200);

    const res = await salvo.api(`/api/v1/packets/${encodeURIComponent(storagePath)}`);
    expect(res.status).toBe(200);
    const { presignedUrl: readUrl } = (await res.json()) as { presignedUrl: string };
    const read = await fetch(readUrl);
    expect(read.status).toBe(200);
    expect(read.headers.get("content-type")).toContain("application/super+json");
    expect(await read.text()).toBe(bytes);

    // A path given unencoded (curl users) names the same packet.
    expect((await salvo.api(`/api/v1/packets/${storagePath}`)).status).toBe(200);
  });

  it("signed URLs are checked: tampered, wrong method, expired and missing tokens get 403", async () => {
    const { presignedUrl } = await presignUpload("trigger/packet_http2/payload.json");
    const token = new URL(presignedUrl).searchParams.get("token")!;
    const [body, sig] = token.split(".");
    const forged = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(body!, "base64url").toString()),
        target: { kind: "packet", path: "other" },
      }),
    ).toString("base64url");
    const expired = signPacketToken(salvo.deps.vault, {
      environmentId: salvo.env.environmentId,
      keyId: "key_expired_anyway",
      method: "PUT",
      expiresAt: Math.floor(Date.now() / 1000) - 1,
      target: { kind: "packet", path: "trigger/packet_http2/payload.json" },
    });
    const cases: [string, string, string][] = [
      [`${forged}.${sig}`, "PUT", "signature"],
      [token, "GET", "for PUT"],
      [expired, "PUT", "expired"],
      ["", "PUT", "Malformed"],
    ];
    for (const [t, method, reason] of cases) {
      const res = await fetch(`${salvo.url}/packets?token=${t}`, { method, body: method === "PUT" ? "x" : undefined });
      expect(res.status, reason).toBe(403);
      expect(res.headers.get("x-should-retry")).toBe("false");
      expect(((await res.json()) as { error: string }).error).toContain(reason);
    }
  });

  it("an upload above SALVO_MAX_PACKET_BYTES gets 413", async () => {
    const { presignedUrl } = await presignUpload("trigger/packet_huge/payload.json");
    const res = await fetch(presignedUrl, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: "x".repeat(MAX_PACKET_BYTES + 1),
    });
    expect(res.status).toBe(413);
  });

  it("packets need a secret key to presign, and belong to one environment", async () => {
    const noKey = await fetch(`${salvo.url}/api/v2/packets/a.json`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    expect(noKey.status).toBe(401);

    const { presignedUrl, storagePath } = await presignUpload("trigger/packet_mine/payload.json");
    await fetch(presignedUrl, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: '{"mine":true}',
    });
    const other = await salvo.newEnvironment();
    const asOther = { authorization: `Bearer ${other.secretKey}` };
    const read = await salvo.api(`/api/v1/packets/${encodeURIComponent(storagePath)}`, { headers: asOther });
    expect(read.status).toBe(404);
    const trigger = await salvo.api("/api/v1/tasks/t/trigger", {
      headers: asOther,
      json: { payload: storagePath, options: { payloadType: "application/store" } },
    });
    expect(trigger.status).toBe(400);
  });

  it("GET /api/v1/runs/{id}/packets/{field} presigns a run's payload (the SDK's in-task import path)", async () => {
    const payload = bigPayload("run-packet");
    const handle = await tasks.trigger("big", payload);
    const res = await salvo.api(`/api/v1/runs/${handle.id}/packets/payload`);
    expect(res.status).toBe(200);
    const { presignedUrl } = (await res.json()) as { presignedUrl: string };
    expect(superjson.parse(await (await fetch(presignedUrl)).text())).toEqual(payload);
    expect((await salvo.api(`/api/v1/runs/${handle.id}/packets/output`)).status).toBe(404);
    expect((await salvo.api(`/api/v1/runs/${handle.id}/packets/secrets`)).status).toBe(400);
  });
});

describe("store references to packets that do not exist", () => {
  it("tasks.trigger is refused at trigger time with a clear 400", async () => {
    const res = await salvo.api("/api/v1/tasks/t/trigger", {
      json: { payload: "trigger/packet_never/payload.json", options: { payloadType: "application/store" } },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toContain('"trigger/packet_never/payload.json", which was not uploaded');
    expect(body.message).toBe(body.error);
  });

  it("a streamed batch item is refused naming its line, and no run is created for it", async () => {
    const create = await salvo.api("/api/v3/batches", { json: { runCount: 2, taskIdentifiers: ["t"] } });
    const { id } = (await create.json()) as { id: string };
    const res = await salvo.api(`/api/v3/batches/${id}/items`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: ndjson([
        { index: 0, task: "t", payload: '{"json":1}', options: { payloadType: "application/super+json" } },
        {
          index: 1,
          task: "t",
          payload: "trigger/packet_gone/payload.json",
          options: { payloadType: "application/store" },
        },
      ]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /^Invalid item at line 2: payload refers to packet/,
    );
    const runsOfBatch = await salvo.deps.db.selectFrom("runs").select("id").where("batch_id", "=", id).execute();
    expect(runsOfBatch).toHaveLength(0);
  });

  it("a store payload that is not a path string is refused", async () => {
    const res = await salvo.api("/api/v1/tasks/t/trigger", {
      json: { payload: { not: "a path" }, options: { payloadType: "application/store" } },
    });
    expect(res.status).toBe(400);
  });
});
