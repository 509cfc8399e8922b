import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/** Idle and header timeouts, the connection cap and the live-subscription caps, with small values. */
const IDLE_MS = 1500;
const HEADERS_MS = 1500;
/** How long a test waits for the server to cut a connection: the timeout plus room for a busy machine. */
const CUT_WINDOW_MS = 10_000;
let salvo: TestSalvo;
let port: number;
beforeAll(async () => {
  salvo = await startTestSalvo({
    SALVO_IDLE_TIMEOUT_MS: String(IDLE_MS),
    SALVO_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
    SALVO_DEQUEUE_MAX_WAIT_MS: "200",
    SALVO_MAX_CONNECTIONS: "20",
  });
  port = Number(new URL(salvo.url).port);
});
afterAll(() => salvo?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw socket, with what it received and when the server closed it. */
async function open(): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let text = "";
  socket.on("data", (d) => (text += String(d)));
  socket.on("error", () => {});
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
  return { socket, received: () => text, closed };
}

async function newBatch() {
  const res = await salvo.api("/api/v3/batches", { json: { runCount: 100 } });
  return ((await res.json()) as { id: string }).id;
}
const streamHead = (batchId: string) =>
  `POST /api/v3/batches/${batchId}/items HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${salvo.key}\r\n` +
  "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n";
const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
const item = (index: number) => `${JSON.stringify({ index, task: "t", payload: { index } })}\n`;

describe("idle timeouts", () => {
  it("an items stream that keeps sending stays open past the idle timeout and completes", async () => {
    const { socket, received, closed } = await open();
    socket.write(streamHead(await newBatch()));
    const started = Date.now();
    let index = 0;
    while (Date.now() - started < IDLE_MS * 2.5) {
      socket.write(chunk(item(index++)));
      await sleep(IDLE_MS / 3);
    }
    socket.write("0\r\n\r\n");
    await sleep(1000);
    expect(received()).toMatch(/^HTTP\/1\.1 200/);
    expect(received()).toContain(`"itemsAccepted":${index}`);
    socket.destroy();
    await closed;
  });

  it("a body that goes idle is cut after SALVO_IDLE_TIMEOUT_MS", async () => {
    const { socket, closed } = await open();
    socket.write(streamHead(await newBatch()));
    socket.write(chunk(item(0)));
    const lastWrite = Date.now();
    const at = await Promise.race([closed, sleep(IDLE_MS + CUT_WINDOW_MS).then(() => 0)]);
    expect(at, "the server never closed the idle connection").toBeGreaterThan(0);
    expect(at - lastWrite).toBeGreaterThanOrEqual(IDLE_MS - 100);
  });

  it("headers sent a byte at a time (never idle) are cut after SALVO_HEADERS_TIMEOUT_MS", async () => {
    const { socket, closed } = await open();
    const started = Date.now();
    socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
    let done = false;
    void closed.then(() => (done = true));
    while (!done && Date.now() - started < HEADERS_MS + CUT_WINDOW_MS) {
      socket.write("a");
      await sleep(IDLE_MS / 4);
    }
    expect(done, "the server never cut the slow headers").toBe(true);
    expect((await closed) - started).toBeGreaterThanOrEqual(HEADERS_MS - 100);
  });
});

describe("connection cap (SALVO_MAX_CONNECTIONS)", () => {
  it("connections beyond the cap are closed at once; a slot freed is usable again", async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => open()));
    await sleep(200);
    const extra = await open();
    extra.socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const at = await Promise.race([extra.closed, sleep(1000).then(() => 0)]);
    expect(at, "the connection over the cap was served").toBeGreaterThan(0);
    expect(extra.received()).toBe("");
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    await sleep(100);
    expect((await fetch(`${salvo.url}/healthz`)).status).toBe(200);
  });
});

describe("live subscription caps", () => {
  // A server of its own: subscriptions here sit quiet for longer than the idle timeout above.
  let salvo: TestSalvo;
  beforeAll(async () => {
    salvo = await startTestSalvo({
      SALVO_MAX_SUBSCRIPTIONS_PER_TOKEN: "2",
      SALVO_MAX_SUBSCRIPTIONS_PER_ENVIRONMENT: "3",
    });
  });
  afterAll(() => salvo?.close());
  const subscribe = (batchId: string, authorization: string, signal: AbortSignal) =>
    fetch(`${salvo.url}/trpc/batch.watch?input=${encodeURIComponent(JSON.stringify({ json: { batchId } }))}`, {
      headers: { authorization, accept: "text/event-stream" },
      signal,
    });

  it("per token and per environment, answered with 429 and the rate-limit headers; a closed one frees its slot", async () => {
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
    const { id } = (await created.json()) as { id: string };
    const jwt = created.headers.get("x-trigger-jwt")!;
    const minted = await salvo.api("/api/v1/auth/public-tokens", { json: { scopes: [`read:batch:${id}`] } });
    const jwt2 = ((await minted.json()) as { token: string }).token;
    const aborts: AbortController[] = [];
    const open = async (authorization: string) => {
      const abort = new AbortController();
      aborts.push(abort);
      return subscribe(id, authorization, abort.signal);
    };
    try {
      expect((await open(`Bearer ${salvo.key}`)).status).toBe(200);
      expect((await open(`Bearer ${salvo.key}`)).status).toBe(200);
      const perToken = await open(`Bearer ${salvo.key}`);
      expect(perToken.status).toBe(429);
      expect(perToken.headers.get("x-ratelimit-limit")).toBe("2");
      expect(perToken.headers.get("x-ratelimit-remaining")).toBe("0");
      expect(Number(perToken.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(((await perToken.json()) as { error: string }).error).toContain(
        "at most 2 live subscriptions per key or token",
      );

      expect((await open(`Bearer ${jwt}`)).status).toBe(200); // a different token: the environment's third
      const perEnvironment = await open(`Bearer ${jwt2}`);
      expect(perEnvironment.status).toBe(429);
      expect(perEnvironment.headers.get("x-ratelimit-limit")).toBe("3");
      expect(((await perEnvironment.json()) as { error: string }).error).toContain(
        "at most 3 live subscriptions per environment",
      );

      // The slot is freed once the server sees the connection close: retry until then (bounded).
      aborts[0]!.abort();
      let reopened = 0;
      for (const started = Date.now(); reopened !== 200 && Date.now() - started < 10_000; await sleep(100)) {
        reopened = (await open(`Bearer ${jwt2}`)).status;
      }
      expect(reopened).toBe(200);
      // Another environment is not affected.
      const env = await salvo.newEnvironment();
      const theirs = await env.secretKey;
      const own = await fetch(`${salvo.url}/api/v3/batches`, {
        method: "POST",
        headers: { authorization: `Bearer ${theirs}`, "content-type": "application/json" },
        body: '{"runCount":1}',
      });
      const ownId = ((await own.json()) as { id: string }).id;
      const abort = new AbortController();
      aborts.push(abort);
      expect((await subscribe(ownId, `Bearer ${theirs}`, abort.signal)).status).toBe(200);
    } finally {
      for (const a of aborts) a.abort();
    }
  });

  it("workers' presence streams are not capped: a fleet larger than the cap keeps them all", async () => {
    // An environment of its own: the slots the test before freed play no part.
    const key = (await salvo.newEnvironment()).secretKey;
    const auth = { authorization: `Bearer ${key}` };
    const aborts: AbortController[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const abort = new AbortController();
        aborts.push(abort);
        const workerId = `w-cap-${i}`;
        await salvo.api("/trpc/worker.register", { json: { json: { workerId, tasks: ["t"] } }, headers: auth });
        const res = await fetch(
          `${salvo.url}/trpc/worker.presence?input=${encodeURIComponent(JSON.stringify({ json: { workerId } }))}`,
          {
            headers: { ...auth, accept: "text/event-stream" },
            signal: abort.signal,
          },
        );
        expect(res.status).toBe(200);
      }
      // The caps still hold for everything else, and the presence streams took none of them.
      const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 }, headers: auth });
      const { id } = (await created.json()) as { id: string };
      const watches = [new AbortController(), new AbortController(), new AbortController()];
      aborts.push(...watches);
      const statuses = [];
      for (const w of watches) statuses.push((await subscribe(id, auth.authorization, w.signal)).status);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      for (const a of aborts) a.abort();
    }
  });
});
