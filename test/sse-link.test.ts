import { createTRPCClient, httpSubscriptionLink, type TRPCLink } from "@trpc/client";
import { type AnyTRPCRouter, initTRPC, TRPCError, tracked } from "@trpc/server";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { NodeEventSource } from "../client/event-source.js";
import { sseSubscriptionLink } from "../client/sse-link.js";
import { isSubscriptionRequest, serveSubscription } from "../server/http/trpc-sse.js";
import { dataTransformer } from "../shared/transformer.js";

/**
 * client/sse-link.ts against tRPC's own `httpSubscriptionLink`, over real HTTP on
 * server/http/trpc-sse.ts: every case subscribes through both links and expects the same
 * callbacks in the same order (started, data, connection states, stopped, complete or the
 * error), so the Salvo client's subscriptions behave as the standard client's do.
 */

const INACTIVITY_MS = 300;
const t = initTRPC.create({
  transformer: dataTransformer,
  // No pings: the inactivity case needs a silent stream.
  sse: { ping: { enabled: false }, client: { reconnectAfterInactivityMs: INACTIVITY_MS } },
});

/** Connections per subscriber name, and the `lastEventId` each one carried. */
const connections = new Map<string, (string | null | undefined)[]>();
const aborted: string[] = [];

const router = t.router({
  count: t.procedure
    .input(z.object({ to: z.number(), lastEventId: z.string().nullish() }))
    .subscription(async function* ({ input }) {
      for (let i = Number(input.lastEventId ?? 0) + 1; i <= input.to; i++)
        yield tracked(String(i), { i, at: new Date(i * 1000), nested: { constructor: "data" } });
    }),
  fails: t.procedure.input(z.object({ code: z.enum(["FORBIDDEN"]) })).subscription(async function* ({ input }) {
    yield tracked("1", { ok: true });
    throw new TRPCError({ code: input.code, message: "not for you" });
  }),
  /** Yields "1" and goes silent on its first connection; resumed after "1", yields "2" and ends. */
  silent: t.procedure
    .input(z.object({ name: z.string(), lastEventId: z.string().nullish() }))
    .subscription(async function* ({ input, signal }) {
      const seen = connections.get(input.name) ?? [];
      seen.push(input.lastEventId);
      connections.set(input.name, seen);
      if (input.lastEventId === "1") {
        yield tracked("2", { n: 2 });
        return;
      }
      yield tracked("1", { n: 1 });
      await new Promise((resolve) => signal!.addEventListener("abort", resolve));
    }),
  idle: t.procedure.input(z.object({ name: z.string() })).subscription(async function* ({ input, signal }) {
    try {
      yield tracked("0", { started: true });
      await new Promise((resolve) => signal!.addEventListener("abort", resolve));
    } finally {
      aborted.push(input.name);
    }
  }),
});
type Router = typeof router;

let app: FastifyInstance;
let url: string;
const closing = new AbortController();
beforeAll(async () => {
  app = Fastify();
  app.get<{ Params: { path: string } }>("/trpc/:path", async (req, reply) => {
    const { path } = req.params;
    if (!isSubscriptionRequest(router, req.method, path)) return reply.status(404).send();
    const call = { router, path, createContext: () => ({}), onError: () => {}, closing: closing.signal };
    return serveSubscription(req, reply, call);
  });
  url = await app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  closing.abort();
  await app?.close();
});

const links: Record<string, () => TRPCLink<Router>> = {
  httpSubscriptionLink: () =>
    httpSubscriptionLink({ url: `${url}/trpc`, transformer: dataTransformer, EventSource: NodeEventSource }),
  sseSubscriptionLink: () =>
    sseSubscriptionLink<AnyTRPCRouter>({ url: `${url}/trpc`, transformer: dataTransformer, headers: () => ({}) }),
};

interface Handlers {
  onStarted(): void;
  onData(data: unknown): void;
  onConnectionStateChange(state: unknown): void;
  onStopped(): void;
  onComplete(): void;
  onError(error: unknown): void;
}

/** Every callback of one subscription, as text, until it completes or fails. */
function record(
  link: () => TRPCLink<Router>,
  start: (client: ReturnType<typeof createTRPCClient<Router>>, handlers: Handlers) => { unsubscribe(): void },
  onData?: (data: unknown, unsubscribe: () => void) => void,
): Promise<string[]> {
  const client = createTRPCClient<Router>({ links: [link()] });
  const log: string[] = [];
  return new Promise((resolve) => {
    const subscription = start(client, {
      onStarted: () => log.push("started"),
      onData: (data) => {
        log.push(`data ${JSON.stringify(data)}`);
        onData?.(data, () => subscription.unsubscribe());
      },
      onConnectionStateChange: (state) => {
        const { state: name, error } = state as { state: string; error: Error | null };
        log.push(`state ${name}${error ? ` (${error.message})` : ""}`);
      },
      onStopped: () => log.push("stopped"),
      onComplete: () => {
        log.push("complete");
        resolve(log);
      },
      onError: (error) => {
        log.push(`error ${(error as Error).message}`);
        resolve(log);
      },
    });
  });
}

/** The same case through both links: the logs must match. */
async function both(...args: Parameters<typeof record> extends [unknown, ...infer R] ? R : never) {
  const [standard, salvo] = await Promise.all([
    record(links.httpSubscriptionLink!, ...args),
    record(links.sseSubscriptionLink!, ...args),
  ]);
  expect(salvo).toEqual(standard);
  return salvo;
}

describe("sseSubscriptionLink behaves as httpSubscriptionLink", () => {
  it("delivers tracked, typed data (Dates, escaped keys), then stops and completes", async () => {
    const got: unknown[] = [];
    const log = await both(
      (client, h) => client.count.subscribe({ to: 3 }, h),
      (data) => got.push(data),
    );
    expect(log[0]).toBe("state connecting");
    expect(log.slice(1, 3)).toEqual(["started", "state pending"]);
    expect(log.slice(-3)).toEqual(["stopped", "state idle", "complete"]);
    expect(got.slice(0, 3)).toEqual(
      [1, 2, 3].map((i) => ({ id: String(i), data: { i, at: new Date(i * 1000), nested: { constructor: "data" } } })),
    );
  });

  it("ends with the error a non-retryable serialized-error carries", async () => {
    const log = await both((client, h) => client.fails.subscribe({ code: "FORBIDDEN" }, h));
    expect(log.at(-1)).toBe("error not for you");
    expect(log).toContain('data {"data":{"ok":true},"id":"1"}');
  });

  it("reconnects after reconnectAfterInactivityMs of silence, resuming after the last tracked id", async () => {
    const log = await both((client, h) => client.silent.subscribe({ name: `silent-${Math.random()}` }, h));
    expect(log).toContain(`state connecting (Timeout of ${INACTIVITY_MS}ms reached while waiting for a response)`);
    expect(log.filter((l) => l.startsWith("data"))).toEqual([
      'data {"data":{"n":1},"id":"1"}',
      'data {"data":{"n":2},"id":"2"}',
    ]);
    const resumed = [...connections.values()].filter((seen) => seen.length === 2);
    expect(resumed).toEqual([
      [undefined, "1"],
      [undefined, "1"],
    ]);
  });

  it("ends with an error thrown by the caller's onData, and closes the stream", async () => {
    const name = `throws-${Math.random()}`;
    const log = await both(
      (client, h) => client.idle.subscribe({ name }, h),
      () => {
        throw new Error("handler broke");
      },
    );
    expect(log.at(-1)).toBe("error handler broke");
    await expect.poll(() => aborted.filter((n) => n === name).length).toBe(2);
  });

  it("an aborted signal stops and completes; unsubscribing closes the stream", async () => {
    const name = `abort-${Math.random()}`;
    const log = await both((client, h) => {
      const aborter = new AbortController();
      return client.idle.subscribe(
        { name },
        {
          ...h,
          signal: aborter.signal,
          onData: (data) => {
            h.onData(data);
            aborter.abort();
          },
        },
      );
    });
    expect(log.slice(-3)).toEqual(["stopped", "state idle", "complete"]);
    await expect.poll(() => aborted.filter((n) => n === name).length).toBe(2);

    const gone = `unsubscribe-${Math.random()}`;
    const logs = await Promise.all(
      Object.values(links).map(
        (link) =>
          new Promise<string[]>((resolve) => {
            const log: string[] = [];
            const client = createTRPCClient<Router>({ links: [link()] });
            const subscription = client.idle.subscribe(
              { name: gone },
              {
                onData: () => {
                  log.push("data");
                  subscription.unsubscribe();
                  setTimeout(() => resolve(log), 100);
                },
                onComplete: () => log.push("complete"),
                onError: () => log.push("error"),
              },
            );
          }),
      ),
    );
    expect(logs[1]).toEqual(logs[0]);
    await expect.poll(() => aborted.filter((n) => n === gone).length).toBe(2);
  });
});
