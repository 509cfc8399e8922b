import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Deps } from "../deps.js";
import { type PoolStats, refreshGauges } from "../observability/gauges.js";
import { httpDuration, httpRequests, registry } from "../observability/metrics.js";
import { errorBody } from "../rest/errors.js";

/**
 * `GET /metrics`: Prometheus's text format, on the API port.
 *
 * Who may scrape: with `SALVO_METRICS_TOKEN` set, whoever sends `Authorization: Bearer <token>`
 * (compared in constant time), from anywhere, loopback included. Without it, only a scraper on
 * this machine: a request from a loopback address that did not come through a proxy (no
 * `Forwarded` / `X-Forwarded-For`: a reverse proxy on the same host would make every client look
 * local). Anyone else gets a 403 saying to set the token. One port and a token rather than a
 * second port: the token works behind any load balancer or proxy without another listener to
 * configure, firewall and health-check, and metrics name queues and environments, so they are
 * never open to the network by accident.
 */
export function registerMetricsRoute(app: FastifyInstance, deps: Deps, poolStats?: () => PoolStats): void {
  app.get("/metrics", async (req, reply) => {
    const refusal = metricsRefusal(req, deps.config.metrics.token);
    if (refusal) {
      if (refusal.status === 401) reply.header("www-authenticate", 'Bearer realm="salvo metrics"');
      return reply.status(refusal.status).header("x-should-retry", "false").send(errorBody(refusal.message));
    }
    await refreshGauges({
      db: deps.db,
      queueRefreshMs: deps.config.metrics.queueRefreshMs,
      poolStats,
      redis: [
        { client: "bus", status: () => deps.bus.redisStatus() },
        { client: "rate_limiter", status: () => deps.rateLimiter.redisStatus() },
      ],
    });
    return reply
      .header("content-type", registry.contentType)
      .header("cache-control", "no-store")
      .send(await registry.metrics());
  });
}

/**
 * Counts every answer by method, route template and status, and times it. The template
 * (`/api/v1/runs/:runId`), never the URL: ids in paths would make a series per run. A request
 * no route matched counts as `unmatched`.
 */
export function registerHttpMetrics(app: FastifyInstance): void {
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

function metricsRefusal(req: FastifyRequest, token: string | undefined): { status: 401 | 403; message: string } | null {
  if (token !== undefined) {
    const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
    // Digests first: timingSafeEqual needs equal lengths, and the token's length is not told either.
    const digest = (s: string) => createHash("sha256").update(s).digest();
    if (timingSafeEqual(digest(given), digest(token))) return null;
    return { status: 401, message: "GET /metrics needs Authorization: Bearer <SALVO_METRICS_TOKEN>" };
  }
  const local = LOOPBACK.test(req.socket.remoteAddress ?? "");
  const proxied = req.headers.forwarded !== undefined || req.headers["x-forwarded-for"] !== undefined;
  if (local && !proxied) return null;
  return {
    status: 403,
    message:
      "GET /metrics is only answered on loopback unless SALVO_METRICS_TOKEN is set: set it on the server " +
      "and scrape with Authorization: Bearer <token>",
  };
}
