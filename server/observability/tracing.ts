import type { ServerResponse } from "node:http";
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  UnknownRow,
} from "kysely";
import { requestContext } from "./log.js";

/**
 * OpenTelemetry spans, only when an OTLP endpoint is configured
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`):
 * one server span per HTTP request (named by route template; a caller's `traceparent` is
 * continued) and one client span per SQL statement, a child of the request it runs for. Worker
 * calls are requests (`POST /trpc/:path`, with `rpc.method`). Background tasks are not traced:
 * they run every half second and would bury the requests. Nothing is registered globally: each
 * server has its own provider, flushed on shutdown. Without an endpoint nothing here runs and
 * nothing is wrapped.
 */
export interface Tracing {
  tracer: Tracer;
  /** Exports what is left and stops. */
  shutdown(): Promise<void>;
}

export function startTracing(options: { endpoint?: string; serviceName: string }): Tracing | undefined {
  if (!options.endpoint) return undefined;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }))],
  });
  return { tracer: provider.getTracer("salvo"), shutdown: () => provider.shutdown() };
}

/** The span of the request being served, if any. */
export const currentSpan = (): Span | undefined => requestContext.getStore()?.span;

/** The context a child of `parent` starts in. */
export const childOf = (parent: Span | undefined) => (parent ? trace.setSpan(ROOT_CONTEXT, parent) : ROOT_CONTEXT);

/**
 * A caller's trace to continue, from its W3C `traceparent` header
 * (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`); the root context when absent or malformed.
 */
export function remoteParent(traceparent: string | undefined) {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent?.trim() ?? "");
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16),
    isRemote: true,
  });
}

/**
 * The server span of one HTTP request, named by its route template (`GET /api/v3/runs/:runId`),
 * continuing the caller's trace when it sent `traceparent`; ended when the response closes (a
 * subscription's span lasts as long as it does).
 */
export function startRequestSpan(
  tracer: Tracer,
  req: { method: string; routeOptions: { url?: string }; headers: Record<string, unknown>; params: unknown },
  res: ServerResponse,
): Span {
  const route = req.routeOptions.url ?? "unmatched";
  const traceparent = req.headers.traceparent;
  const span = tracer.startSpan(
    `${req.method} ${route}`,
    { kind: SpanKind.SERVER, attributes: { "http.request.method": req.method, "http.route": route } },
    remoteParent(typeof traceparent === "string" ? traceparent : undefined),
  );
  // A worker's call, or any tRPC procedure: which one.
  const procedure = (req.params as { path?: unknown } | undefined)?.path;
  if (route === "/trpc/:path" && typeof procedure === "string") span.setAttribute("rpc.method", procedure);
  res.once("close", () => {
    span.setAttribute("http.response.status_code", res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  return span;
}

/**
 * A Kysely plugin that times each statement as a client span under the current request's span. The
 * statement's kind names it (`db SelectQuery`, `db RawNode`…); its text and values are not
 * recorded (they hold payloads and keys' digests). A statement that fails is not ended by
 * Kysely's plugin hooks and is dropped with its query id.
 */
export class SqlSpans implements KyselyPlugin {
  readonly #spans = new WeakMap<object, Span>();

  constructor(private readonly tracer: Tracer) {}

  transformQuery(args: PluginTransformQueryArgs) {
    const parent = currentSpan();
    // Statements outside any request (background tasks, the event feed's polls) are not traced.
    if (parent) {
      const span = this.tracer.startSpan(
        `db ${args.node.kind.replace(/Node$/, "")}`,
        { kind: SpanKind.CLIENT, attributes: { "db.system.name": "postgresql" } },
        childOf(parent),
      );
      this.#spans.set(args.queryId, span);
    }
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const span = this.#spans.get(args.queryId);
    if (span) {
      if (args.result.numAffectedRows !== undefined)
        span.setAttribute("db.response.affected_rows", Number(args.result.numAffectedRows));
      span.setAttribute("db.response.returned_rows", args.result.rows.length);
      span.end();
    }
    return args.result;
  }
}
