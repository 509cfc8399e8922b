/**
 * The `text/event-stream` parser of both of Salvo's EventSources: client/event-source.ts (Node,
 * on node:http) and dashboard/src/event-source.ts (the browser, on fetch). They differ only in
 * how bytes arrive. Text is fed as it arrives, split anywhere (a CRLF may straddle two chunks);
 * each complete event is handed over as plain values, which is all tRPC's link reads.
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */
export interface SseParserHandlers {
  event(type: string, data: string, lastEventId: string): void;
  /** The stream's `retry:` field: the reconnection delay it asks for, in ms. */
  retry(ms: number): void;
}

export class SseParser {
  /** The last event id seen; kept across connections (an EventSource sends it back as Last-Event-ID). */
  lastEventId = "";
  readonly #on: SseParserHandlers;
  #pending = "";
  #atStart = true;
  #skipLf = false;
  #eventType = "";
  #data: string[] = [];

  constructor(on: SseParserHandlers) {
    this.#on = on;
  }

  /** A new connection: the stream starts over (a byte-order mark may lead it again); the last event id stays. */
  reset(): void {
    this.#pending = "";
    this.#atStart = true;
    this.#skipLf = false;
    this.#eventType = "";
    this.#data = [];
  }

  /**
   * Splits text into lines (CRLF, LF or CR), keeping an unfinished last line for the next chunk.
   * `stopped` is asked after each line: a listener may close the source while an event is handed over.
   */
  feed(text: string, stopped: () => boolean): void {
    let start = 0;
    if (this.#atStart && text.length > 0) {
      this.#atStart = false;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    if (this.#skipLf && text.charCodeAt(start) === 10) start++;
    this.#skipLf = false;
    // The next CR and LF, each searched for again only once passed: a scan by indexOf rather than
    // a loop over every character (a message is mostly one long data line).
    let cr = text.indexOf("\r", start);
    let lf = text.indexOf("\n", start);
    while (cr !== -1 || lf !== -1) {
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      const line = this.#pending + text.slice(start, end);
      this.#pending = "";
      start = end + 1;
      if (end === cr) {
        if (start === text.length) this.#skipLf = true;
        else if (text.charCodeAt(start) === 10) start++;
      }
      this.#line(line);
      if (stopped()) return;
      if (cr !== -1 && cr < start) cr = text.indexOf("\r", start);
      if (lf !== -1 && lf < start) lf = text.indexOf("\n", start);
    }
    this.#pending += text.slice(start);
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* ":" comment */) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data.push(value);
        break;
      case "event":
        this.#eventType = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.#on.retry(Number(value));
        break;
    }
  }

  #dispatch(): void {
    const type = this.#eventType || "message";
    const data = this.#data;
    this.#eventType = "";
    this.#data = [];
    if (data.length === 0) return;
    this.#on.event(type, data.length === 1 ? data[0]! : data.join("\n"), this.lastEventId);
  }
}
