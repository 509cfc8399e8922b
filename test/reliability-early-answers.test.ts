import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// An answer sent before the request body was read must still reach the client, also when the
// client asked for `Connection: close` (the server then closes right after answering: unread
// bytes would make the kernel reset the connection, destroying the answer before it was read).

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_MAX_JSON_BODY_BYTES: String(1024 * 1024) });
});
afterAll(() => salvo?.close());

interface Answer {
  status: number;
  body: string;
}

/**
 * A client that sends its whole request before it reads anything (as curl does with a body to
 * upload): a raw socket, paused until the last byte is written. A reset from the server loses
 * whatever of the answer had not been read by then. Chunked unless `contentLength` is given.
 */
function send(
  path: string,
  headers: Record<string, string>,
  chunks: Buffer[],
  contentLength?: number,
): Promise<Answer> {
  const url = new URL(salvo.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.pause();
    const chunked = contentLength === undefined;
    const head = [
      `POST ${path} HTTP/1.1`,
      `host: ${url.host}`,
      "connection: close",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      chunked ? "transfer-encoding: chunked" : `content-length: ${contentLength}`,
    ];
    const received: Buffer[] = [];
    const finish = (err?: Error) => {
      const text = Buffer.concat(received).toString("utf8");
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!match)
        return reject(
          new Error(`no answer (${err?.message ?? "connection closed"}); got ${JSON.stringify(text.slice(0, 200))}`),
        );
      resolve({ status: Number(match[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    };
    socket.on("data", (d) => received.push(d));
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      finish(err);
    };
    socket.on("end", () => done());
    socket.on("close", () => done());
    socket.on("error", (err) => done(err));
    const write = (data: string | Buffer) =>
      new Promise<void>((ok, fail) => socket.write(data, (err) => (err ? fail(err) : ok())));
    (async () => {
      await write(`${head.join("\r\n")}\r\n\r\n`);
      for (const chunk of chunks)
        await write(
          chunked
            ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")])
            : chunk,
        );
      if (chunked) await write("0\r\n\r\n");
    })()
      .catch(() => {})
      .finally(() => socket.resume());
  });
}

/** About `megabytes` MB of NDJSON items for a two-item batch (indexes 0 and 1, then repeats). */
function bigStream(megabytes: number): Buffer[] {
  const pad = "x".repeat(64 * 1024);
  const chunks: Buffer[] = [];
  for (let i = 0; i < megabytes * 16; i++)
    chunks.push(Buffer.from(ndjson([{ index: i % 2, task: "t", payload: { pad } }])));
  return chunks;
}

const NDJSON = { "content-type": "application/x-ndjson" };

describe("early answers on body routes", () => {
  it("items resent to a sealed batch: the 200 arrives", async () => {
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 2 } });
    const { id } = (await created.json()) as { id: string };
    const sealing = await salvo.api(`/api/v3/batches/${id}/items`, {
      method: "POST",
      headers: NDJSON,
      body: ndjson([0, 1].map((index) => ({ index, task: "t" }))),
    });
    expect(((await sealing.json()) as { sealed: boolean }).sealed).toBe(true);

    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await send(
        `/api/v3/batches/${id}/items`,
        { ...NDJSON, authorization: `Bearer ${salvo.key}` },
        bigStream(24),
      );
      expect(answer.status).toBe(200);
      expect(answer.body).toContain(`"sealed":true`);
    }
  });

  it("a 401 before the body is read arrives", async () => {
    const answer = await send(
      "/api/v3/batches/batch_nope/items",
      { ...NDJSON, authorization: "Bearer tr_dev_wrongwrongwrong" },
      bigStream(24),
    );
    expect(answer.status).toBe(401);
    expect(answer.body).toContain(`"error"`);
  });

  it("a 415 for a body that is not NDJSON arrives", async () => {
    const answer = await send(
      "/api/v3/batches/batch_nope/items",
      { "content-type": "text/csv", authorization: `Bearer ${salvo.key}` },
      bigStream(24),
    );
    expect(answer.status).toBe(415);
  });

  it("a 413 for a JSON body over the limit arrives, with or without Content-Length", async () => {
    const chunks = Array.from({ length: 24 * 16 }, () => Buffer.from("x".repeat(64 * 1024)));
    const headers = { "content-type": "application/json", authorization: `Bearer ${salvo.key}` };
    const declared = await send("/api/v1/tasks/t/batch", headers, chunks, 24 * 1024 * 1024);
    expect(declared.status).toBe(413);
    const chunked = await send("/api/v1/tasks/t/batch", headers, chunks);
    expect(chunked.status).toBe(413);
    expect(chunked.body).toContain("Request body too large");
  });
});
