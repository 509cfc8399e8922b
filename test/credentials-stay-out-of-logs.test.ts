import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createTRPCClient, httpSubscriptionLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeEventSource } from "../client/event-source.js";
import { createSalvoClient, watchBatch } from "../client/index.js";
import type { AppRouter } from "../server/trpc/routers/_app.js";
import { type ChildSalvo, startChildSalvo } from "./support/child-server.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * Credentials never travel in URLs the Node client builds, are only accepted there where a browser
 * has no other way (a public token in an SSE subscription's connectionParams), and never reach
 * the log: a server process logging at `debug` (every request) is driven with each kind of
 * credential, then its whole log is searched for each secret.
 */
const browserClient = (url: string, connectionParams: Record<string, string>) =>
  createTRPCClient<AppRouter>({
    links: [
      httpSubscriptionLink({
        url: `${url}/trpc`,
        transformer: superjson,
        connectionParams,
        EventSource: NodeEventSource,
      }),
    ],
  });
const firstMessage = (client: ReturnType<typeof browserClient>, batchId: string) =>
  new Promise((resolve, reject) => {
    const s = client.batch.watch.subscribe(
      { batchId },
      {
        onData: ({ data }) => {
          s.unsubscribe();
          resolve(data);
        },
        onError: reject,
      },
    );
  });
const trpcUrl = (base: string, path: string, input: unknown, connectionParams: unknown) =>
  `${base}/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}&connectionParams=${encodeURIComponent(JSON.stringify(connectionParams))}`;

describe("where credentials are accepted", () => {
  let salvo: TestSalvo;
  beforeAll(async () => {
    salvo = await startTestSalvo();
  });
  afterAll(() => salvo?.close());

  it("the Node client sends the key only as a header: its requests' URLs carry no credential", async () => {
    // A listener standing in for the server records what the client sends, then answers 401.
    const seen: { url: string; authorization?: string }[] = [];
    const recorder = createServer((req, res) => {
      seen.push({ url: req.url!, authorization: req.headers.authorization });
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"no"}');
    });
    await new Promise<void>((resolve) => recorder.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
    try {
      const client = createSalvoClient({ url, apiKey: salvo.key });
      // The recorder's 401 reaches the caller as the client's error for each kind of call.
      await expect(client.batch.get.query({ batchId: "batch_x" })).rejects.toBeInstanceOf(TRPCClientError);
      await expect(client.batch.create.mutate({ runCount: 1 })).rejects.toBeInstanceOf(TRPCClientError);
      const subscription = watchBatch(client, "batch_x")[Symbol.asyncIterator]();
      await expect(subscription.next()).rejects.toBeInstanceOf(TRPCClientError);
      expect(seen.map((s) => s.url.split("?")[0])).toEqual([
        "/trpc/batch.get",
        "/trpc/batch.create",
        "/trpc/batch.watch",
      ]);
      for (const request of seen) {
        expect(request.authorization).toBe(`Bearer ${salvo.key}`);
        expect(request.url).not.toContain("connectionParams");
        expect(decodeURIComponent(request.url)).not.toContain(salvo.key);
      }
    } finally {
      recorder.close();
    }
  });

  it("a secret key in connectionParams is refused, even on a subscription; a public token there is accepted", async () => {
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
    const { id } = (await created.json()) as { id: string };
    const jwt = created.headers.get("x-trigger-jwt")!;
    await expect(
      firstMessage(browserClient(salvo.url, { authorization: `Bearer ${salvo.key}` }), id),
    ).rejects.toMatchObject({
      data: { code: "UNAUTHORIZED" },
      message: expect.stringContaining("only a public access token"),
    });
    await expect(firstMessage(browserClient(salvo.url, { token: salvo.key }), id)).rejects.toMatchObject({
      data: { code: "UNAUTHORIZED" },
    });
    await expect(firstMessage(browserClient(salvo.url, { token: jwt }), id)).resolves.toMatchObject({
      kind: "snapshot",
      batch: { id },
    });
    await expect(firstMessage(browserClient(salvo.url, { authorization: `Bearer ${jwt}` }), id)).resolves.toMatchObject(
      { kind: "snapshot" },
    );
  });

  it("queries and mutations never take credentials from connectionParams", async () => {
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
    const { id } = (await created.json()) as { id: string };
    const jwt = created.headers.get("x-trigger-jwt")!;
    for (const params of [{ authorization: `Bearer ${salvo.key}` }, { token: jwt }]) {
      const res = await fetch(trpcUrl(salvo.url, "batch.get", { batchId: id }, params));
      expect(res.status, JSON.stringify(params)).toBe(401);
    }
    const mutation = await fetch(
      `${salvo.url}/trpc/batch.create?connectionParams=${encodeURIComponent(JSON.stringify({ authorization: `Bearer ${salvo.key}` }))}`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ json: { runCount: 1 } }),
      },
    );
    expect(mutation.status).toBe(401);
  });
});

describe("the log", () => {
  let child: ChildSalvo;
  beforeAll(async () => {
    // Its own embedded database unless the suite runs on Postgres; every request logged.
    child = await startChildSalvo({ SALVO_DATA_DIR: "memory://", SALVO_LOG_LEVEL: "debug" });
  }, 90_000);
  afterAll(() => child?.close());

  it("never contains a key, a public token or a packet token, whichever way they were sent", async () => {
    const auth = { authorization: `Bearer ${child.key}` };
    // Secret key as a header: REST and tRPC, a subscription, a refused attempt in the URL.
    const created = await fetch(`${child.url}/api/v3/batches`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: '{"runCount":1}',
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    const jwt = created.headers.get("x-trigger-jwt")!;
    const client = createSalvoClient({ url: child.url, apiKey: child.key });
    expect((await client.batch.get.query({ batchId: id })).id).toBe(id);
    for await (const { message } of watchBatch(client, id)) {
      expect(message.kind).toBe("snapshot");
      break;
    }
    expect(
      (await fetch(trpcUrl(child.url, "batch.get", { batchId: id }, { authorization: `Bearer ${child.key}` }))).status,
    ).toBe(401);
    await expect(
      firstMessage(browserClient(child.url, { authorization: `Bearer ${child.key}` }), id),
    ).rejects.toMatchObject({ data: { code: "UNAUTHORIZED" } });
    // Public token: as a header, and in an SSE subscription's connectionParams.
    expect(
      (await fetch(`${child.url}/api/v1/batches/${id}`, { headers: { authorization: `Bearer ${jwt}` } })).status,
    ).toBe(200);
    await expect(firstMessage(browserClient(child.url, { token: jwt }), id)).resolves.toMatchObject({
      kind: "snapshot",
    });
    // Signed packet URLs, upload and read, and a wrong one.
    const presign = await fetch(`${child.url}/api/v2/packets/secret.json`, { method: "PUT", headers: auth });
    const { presignedUrl } = (await presign.json()) as { presignedUrl: string };
    expect((await fetch(presignedUrl, { method: "PUT", body: '{"x":1}' })).status).toBe(200);
    const read = await fetch(`${child.url}/api/v1/packets/secret.json`, { headers: auth });
    const { presignedUrl: readUrl } = (await read.json()) as { presignedUrl: string };
    expect((await fetch(readUrl)).status).toBe(200);
    expect((await fetch(readUrl, { method: "PUT", body: "x" })).status).toBe(403);

    await new Promise((r) => setTimeout(r, 500)); // let the log reach the pipe
    const log = child.output();
    // The log did record these requests (so the search below is not of an empty log)...
    expect(log).toContain("/api/v3/batches");
    expect(log).toContain("/packets?token=[redacted]");
    expect(log).toContain("batch.watch?");
    // ...but none of the secrets, in any encoding a URL would give them.
    const packetTokens = [presignedUrl, readUrl].map((u) => new URL(u).searchParams.get("token")!);
    const jwtSignature = jwt.split(".")[2]!;
    for (const secret of [
      child.key,
      jwt,
      jwtSignature,
      ...packetTokens,
      ...packetTokens.map((t) => t.split(".")[1]!),
    ]) {
      expect(log.includes(secret), `log contains ${secret.slice(0, 12)}…`).toBe(false);
      expect(log.includes(encodeURIComponent(secret))).toBe(false);
    }
    expect(log.toLowerCase()).not.toContain("bearer");
  }, 60_000);
});
