import { type AnyTRPCRouter, callTRPCProcedure, getTRPCErrorShape, isTrackedEnvelope, TRPCError } from "@trpc/server";
import { parseConnectionParamsFromString } from "@trpc/server/http";
import type { FastifyReply, FastifyRequest } from "fastify";
import { openSubscriptions } from "../observability/metrics.js";
import { testHooks } from "../test-hooks.js";
import { asTRPCError } from "../trpc/errors.js";

/**
 * tRPC subscriptions over Server-Sent Events, written straight to the socket.
 *
 * tRPC's own SSE response pipes every message through an async generator chain, a per-message
 * ping timer, a TransformStream, a TextEncoderStream and another ReadableStream before Fastify
 * writes it, and serializes it once per subscriber: a few dozen promise hops per message per
 * subscriber, the bulk of the server's CPU when one batch event goes to 1,000 subscribers. This
 * speaks the same wire format (what `httpSubscriptionLink` reads: `connected`, tracked
 * `id:`/`data:` messages, `ping`, `serialized-error`, `return`) with one socket write per message,
 * and serializes each message object once: subscribers of one batch are yielded the same message
 * object (see events/watch.ts), so the same bytes go to all of them.
 *
 * Everything else about a call stays tRPC's: the procedure (middlewares, auth, input validation)
 * runs through `callTRPCProcedure`, errors are shaped by the router's error formatter, and the
 * input and `Last-Event-ID` are read the way tRPC's HTTP handler reads them. Not supported:
 * `sse.maxDurationMs` (Salvo does not set it) and untracked yields (every watch is tracked).
 */

export interface SseCall {
  router: AnyTRPCRouter;
  path: string;
  createContext(connectionParams: Record<string, string | undefined> | null): unknown;
  /**
   * Admits the subscription once its procedure accepted it (authentication, input), before the
   * stream starts; returns what to call when it ends. A TOO_MANY_REQUESTS thrown here or by the
   * procedure is answered as an HTTP 429 with the error's headers, not as a stream.
   */
  admit?(ctx: unknown): Promise<() => void>;
  /** Headers of a 429 answer (from the error's cause). */
  refusalHeaders?(error: TRPCError): Record<string, string>;
  onError(error: TRPCError, path: string): void;
  /** Aborted when the server shuts down: the stream ends with a resume hint (see serveSubscription). */
  closing: AbortSignal;
}

/** tRPC's SSE response headers (`sseHeaders` in @trpc/server). */
const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
  connection: "keep-alive",
};

/** The wire form of each message object, built once however many subscribers it is written to. */
const frames = new WeakMap<object, { id: string; bytes: Buffer }>();

function messageFrame(id: string, message: unknown, serialize: (v: unknown) => unknown): Buffer {
  const shareable = typeof message === "object" && message !== null;
  const cached = shareable ? frames.get(message) : undefined;
  if (cached?.id === id) return cached.bytes;
  const bytes = Buffer.from(`id: ${id}\ndata: ${JSON.stringify(serialize(message))}\n\n`);
  if (shareable) frames.set(message, { id, bytes });
  return bytes;
}

/** How long a stream stays open after its final message before it ends (see serveSubscription). */
const END_DELAY_MS = 200;

const eventFrame = (event: string, data: string) => `event: ${event}\ndata: ${data}\n\n`;

/**
 * How soon a subscriber reconnects after a shutdown ended its stream: the SSE `retry` field, which
 * EventSource (and client/event-source.ts) obey. It reconnects with `Last-Event-ID` set to the
 * last message it got, so it resumes right after it, on whichever server answers.
 */
const RESUME_AFTER_MS = 1_000;

/** Whether this request is one this module serves: a GET of a subscription procedure. */
export function isSubscriptionRequest(router: AnyTRPCRouter, method: string, path: string): boolean {
  if (method !== "GET") return false;
  const procedure = (router._def.procedures as Record<string, { _def: { type: string } } | undefined>)[path];
  return procedure?._def.type === "subscription";
}

/**
 * The call's input as tRPC reads it from a GET: `?input=` through the transformer, plus
 * `Last-Event-ID` (or `?lastEventId=`) as `lastEventId`. Unreadable JSON is a BAD_REQUEST.
 */
function readInput(router: AnyTRPCRouter, url: URL, headers: FastifyRequest["headers"]): unknown {
  const raw = url.searchParams.get("input");
  let input: unknown;
  try {
    input = raw === null ? undefined : router._def._config.transformer.input.deserialize(JSON.parse(raw));
  } catch (cause) {
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: cause instanceof Error ? cause.message : "Unreadable input",
      cause,
    });
  }
  const header = headers["last-event-id"];
  const lastEventId =
    (typeof header === "string" ? header : undefined) ??
    url.searchParams.get("lastEventId") ??
    url.searchParams.get("Last-Event-Id");
  if (lastEventId) {
    if (typeof input === "object" && input !== null && !Array.isArray(input)) input = { ...input, lastEventId };
    else input ??= { lastEventId };
  }
  return input;
}

/**
 * Serves one subscription request. Like tRPC, it answers with an event stream: failures,
 * unreadable input included, arrive as its `serialized-error` event. The one exception is a
 * refusal for too many requests or subscriptions: a 429 with the rate-limit headers.
 */
export async function serveSubscription(req: FastifyRequest, reply: FastifyReply, call: SseCall): Promise<void> {
  const { router, path } = call;
  const config = router._def._config;
  const url = new URL(req.url, "http://localhost");
  const res = reply.raw;
  const aborter = new AbortController();
  let closed = false;
  let drained: (() => void) | undefined;
  res.once("close", () => {
    closed = true;
    aborter.abort();
    drained?.();
  });

  // The procedure runs first (its middlewares authenticate; the generator does not start yet),
  // so that a refusal for too many requests or subscriptions can still be a plain 429.
  let ctx: unknown;
  let input: unknown;
  let result: unknown;
  let failure: unknown;
  let release: (() => void) | undefined;
  try {
    const params = url.searchParams.get("connectionParams");
    ctx = await call.createContext(params === null ? null : parseConnectionParamsFromString(params));
    result = await callTRPCProcedure({
      router,
      path,
      getRawInput: async () => (input = readInput(router, url, req.headers)),
      ctx,
      type: "subscription",
      signal: aborter.signal,
      batchIndex: 0,
    });
    release = await call.admit?.(ctx);
  } catch (cause) {
    failure = cause;
  }
  if (failure !== undefined) {
    const error = asTRPCError(failure);
    if (error.code === "TOO_MANY_REQUESTS") {
      if (isAsyncIterable(result)) void result[Symbol.asyncIterator]().return?.();
      return reply
        .status(429)
        .headers(call.refusalHeaders?.(error) ?? {})
        .send({ error: error.message, message: error.message });
    }
  }

  reply.hijack();
  openSubscriptions.inc({ kind: "trpc" });
  // Headers hooks set (CORS) go out too: Fastify's reply is bypassed from here on.
  res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), ...SSE_HEADERS });
  // Shutting down: the procedure's generator ends, and the stream closes without tRPC's `return`
  // (which would end the subscription for good) but with a `retry` delay: the client reconnects
  // and resumes from its last event id.
  let shuttingDown = false;
  const onClosing = () => {
    shuttingDown = true;
    aborter.abort();
  };
  if (call.closing.aborted) onClosing();
  else call.closing.addEventListener("abort", onClosing, { once: true });
  res.on("drain", () => drained?.());
  let lastWrite = Date.now();
  /** Writes, and waits while the socket is full: the subscription's inbox buffers meanwhile. */
  const write = async (chunk: string | Buffer) => {
    lastWrite = Date.now();
    if (closed || res.write(chunk)) return;
    await new Promise<void>((resolve) => (drained = resolve));
    drained = undefined;
  };

  // A ping after each `intervalMs` without a write, as tRPC does, from one timer per connection.
  const pingMs = config.sse?.ping?.enabled ? (config.sse.ping.intervalMs ?? 1000) : 0;
  let pinger: NodeJS.Timeout | undefined;
  const armPing = (ms: number) => {
    pinger = setTimeout(() => {
      const idle = Date.now() - lastWrite;
      if (idle >= pingMs && !closed && drained === undefined) {
        lastWrite = Date.now();
        res.write(eventFrame("ping", ""));
      }
      armPing(idle >= pingMs ? pingMs : pingMs - idle);
    }, ms);
    pinger.unref();
  };
  if (pingMs > 0) armPing(pingMs);

  try {
    await write(eventFrame("connected", JSON.stringify(config.sse?.client ?? {})));
    if (failure !== undefined) throw failure;
    if (!isAsyncIterable(result)) {
      throw new TRPCError({
        code: "INTERNAL_SERVER_ERROR",
        message: `Subscription ${path} did not return an AsyncGenerator`,
      });
    }
    const serialize = (v: unknown) => config.transformer.output.serialize(v);
    for await (const value of result) {
      if (!isTrackedEnvelope(value)) {
        throw new TRPCError({
          code: "INTERNAL_SERVER_ERROR",
          message: `Subscription ${path} must yield tracked() messages`,
        });
      }
      await write(messageFrame(value[0], value[1], serialize));
      testHooks.afterSseMessageWritten?.(value[1]);
      if (closed || shuttingDown) break;
    }
    if (shuttingDown) {
      if (!closed) await write(`retry: ${RESUME_AFTER_MS}\n\n`);
      return;
    }
    // A batch's final event ends all its subscriptions at once: let every one of them get that
    // message, and its subscriber read it, before any is torn down (ending a connection costs
    // more than writing to it, here and at the subscriber), or the last subscribers would wait
    // for everyone's teardown. END_DELAY_MS outlasts the time one process holding a thousand
    // subscribers takes to read one message on all of them. Nothing more is sent meanwhile.
    clearTimeout(pinger);
    await new Promise((resolve) => setTimeout(resolve, END_DELAY_MS));
    if (!closed) await write(eventFrame("return", ""));
  } catch (cause) {
    if (shuttingDown) {
      if (!closed) await write(`retry: ${RESUME_AFTER_MS}\n\n`);
    } else if (!closed) {
      const error = asTRPCError(cause);
      call.onError(error, path);
      const shape = getTRPCErrorShape({ config, ctx, error, input, path, type: "subscription" });
      await write(eventFrame("serialized-error", JSON.stringify(config.transformer.output.serialize(shape))));
    }
  } finally {
    openSubscriptions.dec({ kind: "trpc" });
    clearTimeout(pinger);
    release?.();
    call.closing.removeEventListener("abort", onClosing);
    res.end();
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}
