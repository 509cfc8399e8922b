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
  #lastEventId = "";
  // Parser state (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
  #pending = "";
  #eventType = "";
  #data: string[] = [];

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
    this.#pending = "";
    this.#eventType = "";
    this.#data = [];
    const controller = new AbortController();
    this.#controller = controller;
    try {
      const response = await fetch(this.url, {
        headers: {
          accept: "text/event-stream",
          // What EventSource's "no-store" cache mode would do (Node's fetch types lack `cache`).
          "cache-control": "no-cache",
          ...this.#headers,
          ...(this.#lastEventId !== "" ? { "last-event-id": this.#lastEventId } : {}),
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
      let first = true;
      for (;;) {
        const { done, value } = await reader.read();
        if (done || controller.signal.aborted) break;
        this.#parse(first ? value.replace(/^\ufeff/, "") : value);
        first = false;
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

  /** Splits text into lines (LF, CRLF or CR), keeping an unfinished last line for the next chunk. */
  #parse(text: string): void {
    let buffer = this.#pending + text;
    // A chunk ending in CR may be the first half of a CRLF: the CR waits for the next chunk.
    const held = buffer.endsWith("\r") ? "\r" : "";
    if (held) buffer = buffer.slice(0, -1);
    const lines = buffer.split(/\r\n|\r|\n/);
    this.#pending = (lines.pop() ?? "") + held;
    for (const line of lines) {
      this.#line(line);
      if (this.readyState === this.CLOSED) return;
    }
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "event") this.#eventType = value;
    else if (field === "id" && !value.includes("\0")) this.#lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.#retryMs = Number(value);
  }

  #dispatch(): void {
    const type = this.#eventType || "message";
    const data = this.#data;
    this.#eventType = "";
    this.#data = [];
    if (data.length > 0) this.#emit({ type, data: data.join("\n"), lastEventId: this.#lastEventId });
  }
}
