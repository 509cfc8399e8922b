import { type Operation, TRPCClientError, type TRPCLink } from "@trpc/client";
import type { AnyTRPCRouter } from "@trpc/server";
import { type Observer, observable } from "@trpc/server/observable";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import { NodeEventSource, type SseErrorEvent, type SseMessageEvent } from "./event-source.js";

/**
 * The client's subscription link: tRPC subscriptions over Server-Sent Events, the same wire
 * format and the same results to the caller as `httpSubscriptionLink` (`started`, tracked
 * `{ id, data }`, connection states, `stopped`), without its per-message machinery.
 *
 * `httpSubscriptionLink` hands every message through a ReadableStream, an async generator and,
 * because Salvo's server asks for `reconnectAfterInactivityMs`, a new timer and a race of
 * promises kept in a WeakMap: a CPU profile of a process holding 1,000 `batch.watch`
 * subscriptions had most of its time there and in the garbage collection it causes, against a
 * few percent in SuperJSON (bench/fanout.ts, FANOUT_PROFILE). Here each message goes from the
 * EventSource's listener to the observer in the same call, and inactivity is watched by one timer
 * per subscription that is re-armed only when it fires.
 *
 * What it does as `httpSubscriptionLink` does: the input is serialized into `?input=` (with
 * `lastEventId` added once a tracked message arrived, for a reconnection the link makes itself);
 * the EventSource reconnects on its own after a stream ends or the network fails, sending
 * `Last-Event-ID` (state `connecting` with the error); a `serialized-error` with a retryable code
 * (502, 503, 504, 500) is a `connecting` state too, any other ends the subscription with that
 * error; `return` ends it (`stopped`, state `idle`, complete); when the server's
 * `reconnectAfterInactivityMs` passes without any event (pings included), it reconnects with a
 * new EventSource. Aborting `op.signal` ends it like `return`; unsubscribing closes the stream.
 */

export interface SseLinkOptions {
  /** The router's URL, e.g. http://127.0.0.1:3030/trpc. */
  url: string;
  /** The transformer of the router: `serialize` for input, `parse` for output as text (shared/transformer.ts). */
  transformer: { serialize(value: unknown): unknown; parse(text: string): unknown };
  /** Headers of every (re)connection, e.g. `authorization`. */
  headers(): Record<string, string>;
}

const RETRYABLE_CODES: readonly number[] = [
  TRPC_ERROR_CODES_BY_KEY.BAD_GATEWAY,
  TRPC_ERROR_CODES_BY_KEY.SERVICE_UNAVAILABLE,
  TRPC_ERROR_CODES_BY_KEY.GATEWAY_TIMEOUT,
  TRPC_ERROR_CODES_BY_KEY.INTERNAL_SERVER_ERROR,
];

export function sseSubscriptionLink<TRouter extends AnyTRPCRouter>(options: SseLinkOptions): TRPCLink<TRouter> {
  const base = options.url.replace(/\/+$/, "");
  return () =>
    ({ op }) =>
      observable((observer) => {
        if (op.type !== "subscription") throw new Error("sseSubscriptionLink only supports subscriptions");
        return subscribe(base, options, op, observer as unknown as Observer<unknown, TRPCClientError<TRouter>>);
      });
}

type ConnectionState = "idle" | "connecting" | "pending";

/** One subscription: its EventSource (replaced on an inactivity timeout) and what it has told the observer. */
function subscribe<TRouter extends AnyTRPCRouter>(
  base: string,
  options: SseLinkOptions,
  op: Operation,
  observer: Observer<unknown, TRPCClientError<TRouter>>,
): () => void {
  let lastEventId: string | undefined;
  let source: NodeEventSource | undefined;
  let state: ConnectionState = "connecting";
  let inactivityMs = 0;
  let lastActivity = 0;
  let watchdog: NodeJS.Timeout | undefined;
  let ended = false;

  const setState = (next: ConnectionState, error: TRPCClientError<TRouter> | null) => {
    state = next;
    observer.next({ result: { type: "state", state: next, error } });
  };

  const url = () => {
    const input =
      lastEventId !== undefined && (op.input === undefined || op.input === null || typeof op.input === "object")
        ? { ...(op.input as object | undefined), lastEventId }
        : op.input;
    return `${base}/${op.path}?input=${encodeURIComponent(JSON.stringify(options.transformer.serialize(input)))}`;
  };

  const stop = () => {
    ended = true;
    clearTimeout(watchdog);
    source?.close();
    source = undefined;
    op.signal?.removeEventListener("abort", finish);
  };
  /** The stream ended as it should (`return`, or the caller's signal): `stopped`, `idle`, complete. */
  function finish() {
    if (ended) return;
    stop();
    observer.next({ result: { type: "stopped" } });
    setState("idle", null);
    observer.complete();
  }
  const fail = (cause: unknown) => {
    if (ended) return;
    stop();
    observer.error(TRPCClientError.from(cause as Error));
  };

  /** Re-armed only when it fires: a message costs a clock read, not a timer. */
  const armWatchdog = (ms: number) => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      if (ended || inactivityMs <= 0) return;
      const idle = Date.now() - lastActivity;
      if (idle < inactivityMs) return armWatchdog(inactivityMs - idle);
      connect();
      setState(
        "connecting",
        new TRPCClientError<TRouter>(`Timeout of ${inactivityMs}ms reached while waiting for a response`),
      );
    }, ms);
  };

  /** A listener that any throw (unreadable data, or the caller's own handler) turns into the subscription's error. */
  const guarded =
    <E>(es: NodeEventSource, handle: (event: E) => void) =>
    (event: E) => {
      if (es !== source) return;
      lastActivity = Date.now();
      try {
        handle(event);
      } catch (cause) {
        fail(cause);
      }
    };

  const connect = () => {
    source?.close();
    const es = new NodeEventSource(url(), { headers: options.headers() });
    source = es;
    lastActivity = Date.now();
    const on = <E>(type: string, handle: (event: E) => void) =>
      es.addEventListener(type, guarded(es, handle) as (event: unknown) => void);
    on<SseMessageEvent>("connected", (event) => {
      const client = JSON.parse(event.data) as { reconnectAfterInactivityMs?: number };
      inactivityMs = client.reconnectAfterInactivityMs ?? 0;
      if (inactivityMs > 0) armWatchdog(inactivityMs);
      observer.next({ result: { type: "started" }, context: { eventSource: es } });
      setState("pending", null);
    });
    on<SseMessageEvent>("message", (event) => {
      const data = options.transformer.parse(event.data);
      if (event.lastEventId) {
        lastEventId = event.lastEventId;
        const tracked = { data, id: event.lastEventId };
        observer.next({ result: { id: event.lastEventId, data: tracked }, context: { eventSource: es } });
      } else observer.next({ result: { data }, context: { eventSource: es } });
    });
    on<SseMessageEvent>("serialized-error", (event) => {
      const shape = options.transformer.parse(event.data) as { code: number };
      const error = TRPCClientError.from<TRouter>({ error: shape } as never);
      if (RETRYABLE_CODES.includes(shape.code)) setState("connecting", error);
      else fail(error);
    });
    on("ping", () => {});
    on("return", finish);
    on<SseErrorEvent>("error", (event) => {
      if (es.readyState === es.CLOSED) fail(event);
      else setState("connecting", TRPCClientError.from<TRouter>(event as never));
    });
  };

  setState(state, null);
  if (op.signal?.aborted) {
    finish();
    return stop;
  }
  op.signal?.addEventListener("abort", finish, { once: true });
  connect();
  return () => {
    if (ended) return;
    observer.complete();
    stop();
  };
}
