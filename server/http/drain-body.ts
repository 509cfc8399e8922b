import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";

/** Most body bytes read and thrown away to deliver an early answer. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/** Longest an early answer waits for the rest of its body. */
const DRAIN_MAX_MS = 10_000;

/**
 * Every answer must reach its client, including one sent before the request body was read: items
 * resent to a sealed batch, a 401/404/415 before the stream is read, a 413 part-way through. When
 * the connection is then closed (the client sent `Connection: close`, or the server is shutting
 * down) with body bytes still unread, the kernel answers them with a reset, and a client still
 * sending (curl: exit 55; Node: ECONNRESET) loses the answer it had not read yet. So the rest of
 * the body is read and discarded before such an answer goes out, within a bound; a body beyond
 * the bound gets its answer on a connection that closes, as before.
 */
export function registerBodyDrain(app: FastifyInstance) {
  app.addHook("onSend", async (req, reply, payload) => {
    if (req.raw.complete || req.raw.destroyed) return payload;
    if (!(await drain(req.raw))) reply.header("connection", "close");
    return payload;
  });
}

/** Reads the rest of `req` into nothing; whether it got to the end within the bounds. */
function drain(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (whole: boolean) => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      req.off("error", onClose);
      resolve(whole);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > DRAIN_MAX_BYTES) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(req.complete);
    const timer = setTimeout(() => finish(false), DRAIN_MAX_MS);
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onClose);
    req.once("error", onClose);
    req.resume();
  });
}
