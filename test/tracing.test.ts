import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo } from "./support/salvo.js";

/**
 * OpenTelemetry, when an OTLP endpoint is configured: a real HTTP listener stands in for the
 * collector and receives what the server exports (OTLP/HTTP JSON), flushed at shutdown.
 */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}
let collector: Server;
let endpoint: string;
const exported: { resource: unknown; spans: ExportedSpan[] }[] = [];

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += String(d)));
    req.on("end", () => {
      const parsed = JSON.parse(body) as {
        resourceSpans: { resource: unknown; scopeSpans: { spans: ExportedSpan[] }[] }[];
      };
      for (const r of parsed.resourceSpans)
        exported.push({ resource: r.resource, spans: r.scopeSpans.flatMap((s) => s.spans) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
});
afterAll(() => collector?.close());

const attribute = (span: ExportedSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value ? Object.values(value)[0] : undefined;
};

describe("tracing", () => {
  it("exports a span per request, continuing the caller's trace, with the request's SQL statements as its children", async () => {
    const salvo = await startTestSalvo({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint,
      OTEL_SERVICE_NAME: "salvo-test",
    });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    let batchId: string;
    try {
      const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
      batchId = ((await created.json()) as { id: string }).id;
      const read = await salvo.api(`/api/v1/batches/${batchId}`, {
        headers: { traceparent: `00-${traceId}-${callerSpan}-01` },
      });
      expect(read.status).toBe(200);
    } finally {
      await salvo.close();
    }
    const spans = exported.flatMap((e) => e.spans);
    expect(JSON.stringify(exported.map((e) => e.resource))).toContain("salvo-test");
    const request = spans.find((s) => s.name === "GET /api/v1/batches/:batchId");
    expect(request, spans.map((s) => s.name).join(", ")).toBeDefined();
    expect(request).toMatchObject({ traceId, parentSpanId: callerSpan, kind: 2 });
    expect(attribute(request!, "http.route")).toBe("/api/v1/batches/:batchId");
    expect(Number(attribute(request!, "http.response.status_code"))).toBe(200);
    const statements = spans.filter((s) => s.parentSpanId === request!.spanId);
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) expect(s).toMatchObject({ traceId, kind: 3, name: expect.stringMatching(/^db /) });
    // The batch's creation was its own trace, with its own statements.
    const create = spans.find((s) => s.name === "POST /api/v3/batches")!;
    expect(create.traceId).not.toBe(traceId);
    expect(spans.some((s) => s.parentSpanId === create.spanId && s.name.startsWith("db "))).toBe(true);
    // Nothing names the batch or carries a statement's text.
    expect(JSON.stringify(spans)).not.toContain(batchId);
  });

  it("is off without an endpoint: nothing is exported, and no tracer is made", async () => {
    const before = exported.length;
    const salvo = await startTestSalvo();
    try {
      expect(salvo.deps.tracer).toBeUndefined();
      expect((await salvo.api("/api/v3/batches", { json: { runCount: 1 } })).status).toBe(202);
    } finally {
      await salvo.close();
    }
    expect(exported.length).toBe(before);
  });
});
