import { SseParser } from "../../shared/sse-parser.js";

/**
 * An EventSource on `fetch`, for tRPC's `httpSubscriptionLink`: the browser's own cannot send
 * headers, and the server refuses a secret key anywhere but in the Authorization header (a URL
 * ends up in logs and history; see server/auth/connection-params.ts). It behaves as the WHATWG
 * EventSource does where tRPC's link looks (`open`, `message` and named events, `readyState`,
 * `Last-Event-ID` on reconnect after `retry` ms), and fails for good (CLOSED, then `error`) on a
 * non-200 answer, as client/event-source.ts does for Node.
 */

export interface FetchEventSourceInit {
  headers?: Record<string, string>;
}

type SseEvent = { type: string; data?: string; lastEventId?: string; message?: string; code?: number };
type Listener = (event: SseEvent) => void;

const DEFAULT_RETRY_MS = 3000;

export class FetchEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;
  readonly withCredentials = false;
  readonly url: string;
  readyState = 0;

  readonly #headers: Record<string, string>;
  readonly #listeners = new Map<string, Set<Listener>>();
  #controller: AbortController | undefined;
  #reconnect: ReturnType<typeof setTimeout> | undefined;
  #retryMs = DEFAULT_RETRY_MS;
  readonly #parser = new SseParser({
    event: (type, data, lastEventId) => this.#emit({ type, data, lastEventId }),
    retry: (ms) => {
      this.#retryMs = ms;
    },
  });
  readonly #closed = () => this.readyState === this.CLOSED;

  constructor(url: string | URL, init: FetchEventSourceInit = {}) {
    this.url = String(url);
    this.#headers = init.headers ?? {};
    void this.#connect();
  }

  addEventListener(type: string, listener: Listener): void {
    const set = this.#listeners.get(type) ?? new Set();
    this.#listeners.set(type, set);
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.#listeners.get(type)?.delete(listener);
  }

  close(): void {
    this.readyState = this.CLOSED;
    clearTimeout(this.#reconnect);
    this.#controller?.abort();
    this.#controller = undefined;
  }

  #emit(event: SseEvent): void {
    for (const listener of [...(this.#listeners.get(event.type) ?? [])]) listener(event);
  }

  async #connect(): Promise<void> {
    this.readyState = this.CONNECTING;
    this.#parser.reset();
    const controller = new AbortController();
    this.#controller = controller;
    try {
      const response = await fetch(this.url, {
        headers: {
          accept: "text/event-stream",
          // What EventSource's "no-store" cache mode would do (Node's fetch types lack `cache`).
          "cache-control": "no-cache",
          ...this.#headers,
          ...(this.#parser.lastEventId !== "" ? { "last-event-id": this.#parser.lastEventId } : {}),
        },
        signal: controller.signal,
      });
      const isStream = response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
      if (response.status !== 200 || !isStream) {
        void response.body?.cancel();
        this.close();
        this.#emit({
          type: "error",
          message:
            response.status !== 200
              ? `Non-200 status code (${response.status})`
              : 'Invalid content type, expected "text/event-stream"',
          code: response.status,
        });
        return;
      }
      this.readyState = this.OPEN;
      this.#emit({ type: "open" });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || controller.signal.aborted) break;
        this.#parser.feed(value, this.#closed);
      }
      if (!controller.signal.aborted) this.#retry("The stream ended");
    } catch (err) {
      if (!controller.signal.aborted) this.#retry(err instanceof Error ? err.message : String(err));
    }
  }

  #retry(message: string): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CONNECTING;
    this.#emit({ type: "error", message });
    if (this.readyState === this.CLOSED) return;
    this.#reconnect = setTimeout(() => void this.#connect(), this.#retryMs);
  }
}
