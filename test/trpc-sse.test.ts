import { createTRPCClient, httpSubscriptionLink } from "@trpc/client";
import { initTRPC, TRPCError, tracked } from "@trpc/server";
import { fastifyRequestHandler } from "@trpc/server/adapters/fastify";
import Fastify, { type FastifyInstance } from "fastify";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NodeEventSource } from "../client/event-source.js";
import { isSubscriptionRequest, serveSubscription } from "../server/http/trpc-sse.js";

/**
 * server/http/trpc-sse.ts on a small router of its own, over real HTTP: the wire format tRPC's
 * `httpSubscriptionLink` reads, resume, errors, pings, aborts, and one serialization per message
 * object however many subscribers it is written to.
 */

let serialized = 0;
const countingSuperjson = {
  serialize: (v: unknown) => {
    serialized++;
    return superjson.serialize(v);
  },
  deserialize: superjson.deserialize,
};
const t = initTRPC.create({
  transformer: countingSuperjson,
  sse: { ping: { enabled: true, intervalMs: 50 }, client: { reconnectAfterInactivityMs: 5000 } },
});

const aborted: string[] = [];
/** One message object, yielded by every `shared` subscription. */
const SHARED = { note: "the same object for everyone", at: new Date("2026-01-01T00:00:00Z") };
let release!: () => void;
let released = new Promise<void>((r) => (release = r));

const router = t.router({
  count: t.procedure
    .input(z.object({ to: z.number(), lastEventId: z.string().nullish() }))
    .subscription(async function* ({ input }) {
      for (let i = Number(input.lastEventId ?? 0) + 1; i <= input.to; i++)
        yield tracked(String(i), { i, at: new Date(i * 1000) });
    }),
  fails: t.procedure.subscription(async function* () {
    yield tracked("1", { ok: true });
    throw new TRPCError({ code: "FORBIDDEN", message: "not for you" });
  }),
  idle: t.procedure.input(z.object({ name: z.string() })).subscription(async function* ({ input, signal }) {
    try {
      yield tracked("0", { started: true });
      await new Promise((resolve) => signal!.addEventListener("abort", resolve));
    } finally {
      aborted.push(input.name);
    }
  }),
  shared: t.procedure.subscription(async function* () {
    await released;
    yield tracked("s1", SHARED);
  }),
});

let app: FastifyInstance;
let url: string;
/** The server's shutdown signal. */
const closing = new AbortController();
beforeAll(async () => {
  app = Fastify();
  app.all<{ Params: { path: string } }>("/trpc/:path", async (req, reply) => {
    const { path } = req.params;
    const call = { router, path, createContext: () => ({}), onError: () => {}, closing: closing.signal };
    if (isSubscriptionRequest(router, req.method, path)) return serveSubscription(req, reply, call);
    await fastifyRequestHandler({ router, req, res: reply, path });
  });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(() => app?.close());

const inputParam = (input: unknown) => encodeURIComponent(JSON.stringify(superjson.serialize(input)));

/** The whole body of a subscription that ends by itself. */
async function body(path: string, input?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/trpc/${path}${input !== undefined ? `?input=${inputParam(input)}` : ""}`, {
    headers,
  });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

const client = () =>
  createTRPCClient<typeof router>({
    links: [httpSubscriptionLink({ url: `${url}/trpc`, transformer: superjson, EventSource: NodeEventSource })],
  });

describe("tRPC subscriptions over SSE (trpc-sse.ts)", () => {
  it("writes what httpSubscriptionLink reads: connected, tracked messages, return", async () => {
    const { status, type, text } = await body("count", { to: 2 });
    expect(status).toBe(200);
    expect(type).toBe("text/event-stream");
    const data = (i: number) => JSON.stringify(superjson.serialize({ i, at: new Date(i * 1000) }));
    expect(text).toBe(
      'event: connected\ndata: {"reconnectAfterInactivityMs":5000}\n\n' +
        `id: 1\ndata: ${data(1)}\n\n` +
        `id: 2\ndata: ${data(2)}\n\n` +
        "event: return\ndata: \n\n",
    );
  });

  it("resumes after Last-Event-ID (the header EventSource sends on reconnect)", async () => {
    const { text } = await body("count", { to: 4 }, { "last-event-id": "2" });
    expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1])).toEqual(["3", "4"]);
  });

  it("delivers typed data and ends through the real client", async () => {
    const got: { id: string; i: number; at: Date }[] = [];
    await new Promise<void>((resolve, reject) => {
      client().count.subscribe(
        { to: 3 },
        { onData: ({ id, data }) => got.push({ id, ...data }), onComplete: resolve, onError: reject },
      );
    });
    expect(got).toEqual([1, 2, 3].map((i) => ({ id: String(i), i, at: new Date(i * 1000) })));
  });

  it("sends an error as serialized-error, which the client throws", async () => {
    const { text } = await body("fails");
    expect(text).toMatch(/^id: 1\n/m);
    const error = /event: serialized-error\ndata: (.*)\n/.exec(text)!;
    expect(superjson.deserialize(JSON.parse(error[1]!))).toMatchObject({
      message: "not for you",
      data: { code: "FORBIDDEN", httpStatus: 403 },
    });
    await expect(
      new Promise<void>((resolve, reject) =>
        client().fails.subscribe(undefined, { onComplete: resolve, onError: reject }),
      ),
    ).rejects.toThrow("not for you");
  });

  it("pings an idle stream, and aborts the procedure when the client goes away", async () => {
    const aborter = new AbortController();
    const res = await fetch(`${url}/trpc/idle?input=${inputParam({ name: "idle-1" })}`, { signal: aborter.signal });
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("event: ping")) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^event: connected\n/);
    expect(aborted).not.toContain("idle-1");
    aborter.abort();
    await expect.poll(() => aborted).toContain("idle-1");
  });

  it("serializes a message object once however many subscribers it goes to", async () => {
    const bodies = [0, 1, 2].map(async () => (await fetch(`${url}/trpc/shared`)).text());
    await new Promise((r) => setTimeout(r, 100));
    serialized = 0;
    release();
    const texts = await Promise.all(bodies);
    released = new Promise<void>((r) => (release = r));
    expect(serialized).toBe(1);
    for (const text of texts)
      expect(text).toContain(`id: s1\ndata: ${JSON.stringify(superjson.serialize(SHARED))}\n\n`);
  });

  it("answers unreadable input with a BAD_REQUEST in the stream, as tRPC does", async () => {
    const { status, text } = await body("count?input=%7Bnot-json");
    expect(status).toBe(200);
    const error = /event: serialized-error\ndata: (.*)\n/.exec(text)!;
    expect(superjson.deserialize(JSON.parse(error[1]!))).toMatchObject({ data: { code: "BAD_REQUEST" } });
  });
});
