import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { SseParser } from "../shared/sse-parser.js";

/**
 * An EventSource for Node on node:http, what the client hands tRPC's `httpSubscriptionLink`.
 *
 * Node has no EventSource. The `eventsource` package reads the stream through `fetch` (undici)
 * web streams and dispatches DOM events: with many subscriptions in one process that was about a
 * third of what each message cost a subscriber. This one parses the socket's text as it arrives
 * and calls listeners with plain objects, which is all tRPC's link reads (`data`, `lastEventId`,
 * `readyState`). Behaviour is the WHATWG one tRPC relies on: `open`/`message`/named events, the
 * last event id sent back as `Last-Event-ID` when reconnecting after the stream ends or the
 * network fails (after `retry` ms, 3 s unless the server says otherwise), and a connection that
 * fails for good (CLOSED, then `error`) on a non-200 status or a non-event-stream response.
 * Redirects are not followed (Salvo never redirects).
 */

export interface EventSourceInit {
  /** Sent with every (re)connection, e.g. `authorization`. */
  headers?: Record<string, string>;
}

export interface SseMessageEvent {
  type: string;
  data: string;
  lastEventId: string;
  origin: string;
}

export interface SseErrorEvent {
  type: "error";
  message: string;
  /** The HTTP status, when a response ended the connection. */
  code?: number;
}

type Listener = (event: SseMessageEvent | SseErrorEvent | { type: "open" }) => void;

const DEFAULT_RETRY_MS = 3000;

export class NodeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;
  readyState = 0;
  readonly url: string;
  readonly withCredentials = false;

  readonly #target: URL;
  /** Read once: URL's `origin` getter builds it anew on every call. */
  readonly #origin: string;
  readonly #headers: Record<string, string>;
  readonly #listeners = new Map<string, Set<Listener>>();
  #request: ClientRequest | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #retryMs = DEFAULT_RETRY_MS;
  readonly #parser = new SseParser({
    event: (type, data, lastEventId) => this.#emit({ type, data, lastEventId, origin: this.#origin }),
    retry: (ms) => {
      this.#retryMs = ms;
    },
  });
  readonly #closed = () => this.readyState === this.CLOSED;

  constructor(url: string | URL, init: EventSourceInit = {}) {
    this.#target = new URL(url);
    this.#origin = this.#target.origin;
    this.url = this.#target.href;
    this.#headers = init.headers ?? {};
    this.#connect();
  }

  addEventListener(type: string, listener: Listener): void {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.#listeners.get(type)?.delete(listener);
  }

  close(): void {
    this.readyState = this.CLOSED;
    clearTimeout(this.#reconnect);
    this.#request?.destroy();
    this.#request = undefined;
  }

  #emit(event: SseMessageEvent | SseErrorEvent | { type: "open" }): void {
    const set = this.#listeners.get(event.type);
    if (!set) return;
    // A copy, so that listeners added or removed by a listener take effect from the next event;
    // none is needed for a lone listener (the usual case: one per type).
    if (set.size === 1) set.values().next().value!(event);
    else for (const listener of [...set]) listener(event);
  }

  #connect(): void {
    this.readyState = this.CONNECTING;
    this.#parser.reset();
    const send = this.#target.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(this.#target, {
      method: "GET",
      headers: {
        accept: "text/event-stream",
        "cache-control": "no-cache",
        ...this.#headers,
        ...(this.#parser.lastEventId !== "" ? { "last-event-id": this.#parser.lastEventId } : {}),
      },
    });
    this.#request = request;
    request.on("response", (res) => this.#onResponse(request, res));
    request.on("error", (err) => {
      if (this.#request === request) this.#retry(err.message);
    });
    request.end();
  }

  #onResponse(request: ClientRequest, res: IncomingMessage): void {
    if (this.#request !== request) return void res.resume();
    const type = res.headers["content-type"] ?? "";
    if (res.statusCode !== 200 || !type.startsWith("text/event-stream")) {
      res.resume();
      this.#fail(
        res.statusCode !== 200
          ? `Non-200 status code (${res.statusCode})`
          : 'Invalid content type, expected "text/event-stream"',
        res.statusCode,
      );
      return;
    }
    this.readyState = this.OPEN;
    this.#emit({ type: "open" });
    res.setEncoding("utf8");
    res.on("data", (text: string) => {
      if (this.#request === request) this.#parser.feed(text, this.#closed);
    });
    // The stream ended or broke: reconnect, resuming after the last event id.
    res.on("close", () => {
      if (this.#request === request) this.#retry("The stream ended");
    });
  }

  /** Fails for good: CLOSED, then `error` (tRPC's link treats that as the subscription's end). */
  #fail(message: string, code?: number): void {
    this.close();
    this.#emit({ type: "error", message, ...(code !== undefined ? { code } : {}) });
  }

  #retry(message: string): void {
    this.#request = undefined;
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CONNECTING;
    this.#emit({ type: "error", message });
    if (this.readyState === this.CLOSED) return;
    this.#reconnect = setTimeout(() => this.#connect(), this.#retryMs);
  }
}
