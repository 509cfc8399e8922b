import type { FastifyRequest } from "fastify";

/**
 * What the request log shows of a request. Credentials travel in query strings (signed packet
 * URLs' `token`, a browser subscription's `connectionParams`) and in headers, so the log keeps
 * a query string's parameter names but never their values, and no header at all.
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

/** Fastify's `logger` option: the level, and serializers that keep credentials out. */
export function loggerOptions(level: string, stream?: { write(line: string): void }) {
  if (level === "silent") return false;
  return {
    level,
    ...(stream ? { stream } : {}),
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
    },
    // In case a header object is ever logged whole (`{ headers }`, `{ req: { headers } }`).
    redact: ["headers.authorization", "req.headers.authorization", "headers.cookie", "req.headers.cookie"],
  };
}
