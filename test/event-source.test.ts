import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeEventSource, type SseMessageEvent } from "../client/event-source.js";
import { FetchEventSource } from "../dashboard/src/event-source.js";

/**
 * The EventSources Salvo's clients hand tRPC, against a real HTTP server whose responses each test
 * scripts: client/event-source.ts (Node, on node:http) and dashboard/src/event-source.ts (the
 * dashboard's, on fetch, which Node has too). Both must behave as the WHATWG EventSource does.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler;
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const eventStream = (res: ServerResponse) => res.writeHead(200, { "content-type": "text/event-stream" });

type Event = { type: string; data?: string; lastEventId?: string; message?: string; code?: number };
interface EventSourceLike {
  readyState: number;
  addEventListener(type: string, listener: (event: Event) => void): void;
  close(): void;
}
type EventSourceClass = {
  new (url: string, init?: { headers?: Record<string, string> }): EventSourceLike;
  CLOSED: number;
};

/** Collects events of the given types until `count` of them arrived. */
function collect(source: EventSourceLike, types: string[], count: number) {
  const got: { type: string; data?: string; lastEventId?: string; message?: string; code?: number }[] = [];
  return new Promise<typeof got>((resolve) => {
    for (const type of types) {
      source.addEventListener(type, (event) => {
        got.push({ ...event });
        if (got.length === count) resolve([...got]);
      });
    }
  });
}

describe.each<[string, EventSourceClass]>([
  ["NodeEventSource", NodeEventSource],
  ["FetchEventSource (the dashboard's)", FetchEventSource],
])("%s", (_name, EventSourceImpl) => {
  it("parses events split anywhere, with any line ending, comments, names and multi-line data", async () => {
    const wire =
      "\ufeff: a comment\r\nid: 1\r\ndata: one\r\n\r\nevent: named\rdata: two\rdata:  lines\r\rid\ndata:three\n\ndata: no id\n\n";
    handler = (_req, res) => {
      eventStream(res);
      // One character at a time: every split point, CR LF included.
      let i = 0;
      const next = () => {
        if (i === wire.length) return;
        res.write(wire[i++]);
        setImmediate(next);
      };
      next();
    };
    const source = new EventSourceImpl(url);
    const got = await collect(source, ["message", "named"], 4);
    source.close();
    expect(got.map(({ type, data, lastEventId }) => ({ type, data, lastEventId }))).toEqual([
      { type: "message", data: "one", lastEventId: "1" },
      { type: "named", data: "two\n lines", lastEventId: "1" },
      { type: "message", data: "three", lastEventId: "" },
      { type: "message", data: "no id", lastEventId: "" },
    ]);
  });

  it("sends its headers, and reconnects after the stream ends with Last-Event-ID after `retry` ms", async () => {
    const requests: { auth?: string; lastEventId?: string; at: number }[] = [];
    handler = (req, res) => {
      requests.push({
        auth: req.headers.authorization,
        lastEventId: req.headers["last-event-id"] as string | undefined,
        at: Date.now(),
      });
      eventStream(res);
      res.end(requests.length === 1 ? "retry: 30\nid: 7\ndata: first\n\n" : "data: second\n\n");
    };
    const source = new EventSourceImpl(url, { headers: { authorization: "Bearer k" } });
    const got = await collect(source, ["message", "error"], 3);
    source.close();
    expect(got.map((e) => e.type)).toEqual(["message", "error", "message"]);
    expect(got[2]).toMatchObject({ data: "second", lastEventId: "7" });
    expect(requests.map(({ auth, lastEventId }) => ({ auth, lastEventId }))).toEqual([
      { auth: "Bearer k", lastEventId: undefined },
      { auth: "Bearer k", lastEventId: "7" },
    ]);
    expect(requests[1]!.at - requests[0]!.at).toBeLessThan(1000);
  });

  it("fails for good on a non-200 status or a response that is not an event stream", async () => {
    handler = (_req, res) => res.writeHead(401, { "content-type": "application/json" }).end("{}");
    const refused = new EventSourceImpl(url);
    expect(await collect(refused, ["error"], 1)).toEqual([
      { type: "error", message: "Non-200 status code (401)", code: 401 },
    ]);
    expect(refused.readyState).toBe(EventSourceImpl.CLOSED);

    handler = (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("data: x\n\n");
    const wrongType = new EventSourceImpl(url);
    const [error] = await collect(wrongType, ["error"], 1);
    expect(error!.message).toMatch(/content type/);
    expect(wrongType.readyState).toBe(EventSourceImpl.CLOSED);
  });

  it("stops for good when closed: no reconnect, no more events", async () => {
    let connections = 0;
    handler = (_req, res) => {
      connections++;
      eventStream(res);
      res.write("retry: 10\ndata: hello\n\n");
      setTimeout(() => res.end("data: late\n\n"), 50);
    };
    const source = new EventSourceImpl(url);
    const seen: SseMessageEvent[] = [];
    source.addEventListener("message", (e) => seen.push(e as SseMessageEvent));
    await expect.poll(() => seen.length).toBe(1);
    source.close();
    await new Promise((r) => setTimeout(r, 150));
    expect(seen.map((e) => e.data)).toEqual(["hello"]);
    expect(connections).toBe(1);
    expect(source.readyState).toBe(EventSourceImpl.CLOSED);
  });
});
