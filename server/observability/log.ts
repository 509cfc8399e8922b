import { AsyncLocalStorage } from "node:async_hooks";
import type { Span } from "@opentelemetry/api";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Logger, pino } from "pino";
import { prettyLine } from "./pretty.js";

/**
 * The one logger of a Salvo process (Fastify's, and the one `deps.log` hands to domain code and
 * background tasks): JSON lines by default, readable lines when stdout is a terminal.
 *
 * Levels: `notice` (between `warn` and `error`) is the process's own story, start, the first key,
 * shutdown, so it shows at the usual `warn` too; `warn` is what an operator should look at (a run
 * that failed, Redis down, work nobody serves); requests are logged at `debug`, so that normal
 * traffic is quiet at the default `info`.
 */
export type Log = Logger<"notice">;

/** Where log lines go instead of stdout (tests read them). */
export interface LogStream {
  write(line: string): void;
}

export const NOTICE_LEVEL = 45;

/**
 * The request a piece of code runs for: every line logged while serving a request carries its
 * id (`reqId`, the `x-request-id` answered), even a line logged by domain code through `deps.log`
 * (Fastify's own `req.log` binds it already). Entered by http/app.ts for each request.
 */
export const requestContext = new AsyncLocalStorage<RequestStore>();

/** What code serving a request can learn of it: its id, and its span when tracing is on. */
export interface RequestStore {
  reqId: string;
  span?: Span;
}

/**
 * What the log shows of a request. Credentials travel in query strings (signed packet URLs'
 * `token`, a browser subscription's `connectionParams`) and in headers, so the log keeps a query
 * string's parameter names but never their values, and no header at all.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q === -1) return url;
  const names = url
    .slice(q + 1)
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => `${pair.split("=")[0]}=[redacted]`);
  return `${url.slice(0, q)}?${names.join("&")}`;
}

/**
 * Field names that hold a credential wherever they appear in a logged object (a header object
 * logged whole, an input echoed into an error): their values are replaced by `[redacted]`.
 */
const REDACTED_PATHS = [
  "authorization",
  "cookie",
  "token",
  "jwt",
  "apiKey",
  "secretKey",
  "publicAccessToken",
  "connectionParams",
  "*.authorization",
  "*.cookie",
  "*.token",
  "*.jwt",
  "*.apiKey",
  "*.secretKey",
  "*.publicAccessToken",
  "*.connectionParams",
  "req.headers.authorization",
  "req.headers.cookie",
];

export function createLogger(level: string, stream?: LogStream): Log {
  let root: Log | undefined;
  const options = {
    level,
    customLevels: { notice: NOTICE_LEVEL },
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
      // Fastify logs `{ res: reply }` on some errors; the reply holds the request and its headers.
      res: (reply: FastifyReply) => ({ statusCode: reply.statusCode }),
    },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    // Domain code logs through the root logger; inside a request the line gets the request's id.
    // A request's own logger (Fastify's child) has it bound already.
    mixin: (_merge: object, _level: number, logger: unknown) => {
      if (logger !== root) return {};
      const reqId = requestContext.getStore()?.reqId;
      return reqId ? { reqId } : {};
    },
  };
  const destination =
    stream ?? (process.stdout.isTTY ? { write: (line: string) => process.stdout.write(prettyLine(line)) } : undefined);
  root = (destination ? pino(options, destination) : pino(options)) as Log;
  return root;
}
