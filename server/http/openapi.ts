import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ANSWER_HEADERS, REST_ROUTES, type RestRoute } from "../../shared/rest-api.js";

/**
 * The OpenAPI 3.1 document of Salvo's HTTP API (`GET /api/openapi.json`) and a page to read it
 * (`GET /docs`), both generated from the route table of shared/rest-api.ts, whose schemas are the
 * ones the router validates with and the presenters are typed by. tRPC (`/trpc/*`) is not in it:
 * its procedures are typed end to end through the client (README "tRPC router").
 */
export function registerOpenApiRoutes(app: FastifyInstance): void {
  // Built on first request: most servers (and every test server) never serve it.
  let document: OpenApiDocument | undefined;
  let page: string | undefined;
  const theDocument = () => {
    if (!document) document = openApiDocument();
    return document;
  };
  app.get("/api/openapi.json", async (_req, reply) => reply.header("cache-control", "no-cache").send(theDocument()));
  app.get("/docs", async (_req, reply) => {
    if (!page) page = docsPage(theDocument());
    return reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", DOCS_CSP)
      .header("x-content-type-options", "nosniff")
      .header("cache-control", "no-cache")
      .send(page);
  });
}

type JsonSchema = Record<string, unknown>;
export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { securitySchemes: Record<string, unknown> };
}
interface OpenApiParameter {
  name: string;
  in: "path" | "query" | "header";
  required: boolean;
  description: string;
  schema: JsonSchema;
}
interface OpenApiOperation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  security: Record<string, string[]>[];
  parameters: OpenApiParameter[];
  requestBody?: { required: boolean; description?: string; content: Record<string, Record<string, unknown>> };
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: JsonSchema }>;
}

/**
 * A zod schema as JSON Schema (2020-12, OpenAPI 3.1's dialect). A `Date` is what JSON.stringify
 * makes of it, an ISO date-time string; what JSON Schema cannot say (a custom check) is left open.
 */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
    override: (ctx) => {
      if ((ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def.type === "date") {
        ctx.jsonSchema.type = "string";
        ctx.jsonSchema.format = "date-time";
      }
    },
  }) as JsonSchema;
  delete json.$schema;
  return json;
}

const SECURITY: Record<RestRoute["auth"], Record<string, string[]>[]> = {
  secret: [{ secretKey: [] }],
  read: [{ secretKey: [] }, { publicAccessToken: [] }],
  none: [],
  "signed-url": [],
};

function operation(route: RestRoute): OpenApiOperation {
  const parameters: OpenApiParameter[] = [
    ...Object.entries(route.pathParams ?? {}).map(([name, description]) => ({
      name,
      in: "path" as const,
      required: true,
      description,
      schema: { type: "string" },
    })),
    ...Object.entries(route.query ?? {}).map(([name, description]) => ({
      name,
      in: "query" as const,
      required: route.auth === "signed-url",
      description,
      schema: { type: "string" },
    })),
    ...Object.entries(route.headers ?? {}).map(([name, description]) => ({
      name,
      in: "header" as const,
      required: false,
      description,
      schema: { type: "string" },
    })),
  ];
  const body = route.body;
  const ndjson = body?.contentType === "application/x-ndjson";
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security: SECURITY[route.auth],
    parameters,
    ...(body
      ? {
          requestBody: {
            required: body.required,
            ...(body.description ? { description: body.description } : {}),
            content: {
              [body.contentType ?? "application/json"]: ndjson
                ? { schema: { type: "string" }, "x-ndjson-item": jsonSchemaOf(body.schema, "input") }
                : { schema: jsonSchemaOf(body.schema, "input") },
            },
          },
        }
      : {}),
    responses: Object.fromEntries(
      Object.entries(route.responses).map(([status, answer]) => [
        status,
        {
          description: answer.description,
          // Every answer names its request (`x-request-id`, set for all of them in app.ts).
          headers: Object.fromEntries(
            (["x-request-id", ...(answer.headers ?? [])] as const).map((name) => [
              name,
              {
                description: ANSWER_HEADERS[name],
                schema: { type: /^(X-RateLimit|Retry)/.test(name) ? "integer" : "string" },
              },
            ]),
          ),
          ...(answer.schema
            ? {
                content: {
                  [answer.contentType ?? "application/json"]: { schema: jsonSchemaOf(answer.schema, "output") },
                },
              }
            : {}),
        },
      ]),
    ),
  };
}

export function openApiDocument(): OpenApiDocument {
  const paths: OpenApiDocument["paths"] = {};
  for (const route of REST_ROUTES) {
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Salvo",
      version: "1",
      description:
        "Trigger.dev's public batch and run API as Salvo serves it, plus Salvo's own routes (packets, realtime, " +
        "health, metrics). Authenticate with `Authorization: Bearer <secret key>` (tr_dev_…, tr_stg_…, tr_prod_…, " +
        "tr_preview_…); read routes also take a public access token whose scopes cover the resource. Errors are " +
        '`{"error": "…", "message": "…"}`.',
    },
    paths,
    components: {
      securitySchemes: {
        secretKey: { type: "http", scheme: "bearer", description: "An environment's secret key" },
        publicAccessToken: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "A public access token (read scopes), e.g. the x-trigger-jwt of a created batch",
        },
      },
    },
  };
}

// ---- the page ---------------------------------------------------------------------------------

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#1d1d1f}
h2{margin-top:2em;border-bottom:1px solid #ddd}section{margin:1.2em 0;padding:.6em 1em;border:1px solid #e4e4e4;border-radius:6px}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f6f6f6;padding:.6em;overflow:auto}
.m{font-weight:700;display:inline-block;min-width:3.5em}.GET{color:#0a6}.POST{color:#06c}.PUT{color:#a60}
table{border-collapse:collapse}td{padding:.15em .8em .15em 0;vertical-align:top}summary{cursor:pointer}`;

/** Only this page's own stylesheet: no script, no other origin, nothing loaded from a CDN. */
const DOCS_CSP = `default-src 'none'; style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Prose of the document: escaped, with its `code` spans set as code. */
const prose = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, "<code>$1</code>");

/** The document as a page: one section per operation, grouped by tag, schemas shown as JSON. */
export function docsPage(document: OpenApiDocument): string {
  const byTag = new Map<string, string[]>();
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const params = op.parameters.map(
        (p) =>
          `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${p.in}${p.required ? ", required" : ""}</td><td>${prose(p.description)}</td></tr>`,
      );
      const body = op.requestBody
        ? `<details><summary>Request body</summary><pre>${escapeHtml(JSON.stringify(op.requestBody.content, null, 2))}</pre></details>`
        : "";
      const answers = Object.entries(op.responses).map(
        ([status, r]) =>
          `<details><summary><b>${status}</b> ${prose(r.description)}</summary><pre>${escapeHtml(JSON.stringify({ headers: r.headers, content: r.content }, null, 2))}</pre></details>`,
      );
      const section = `<section id="${escapeHtml(op.operationId)}"><div><span class="m ${method.toUpperCase()}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></div>
<p>${prose(op.summary)}${op.description ? `<br>${prose(op.description)}` : ""}</p>
${params.length > 0 ? `<table>${params.join("")}</table>` : ""}${body}${answers.join("")}</section>`;
      const tag = op.tags[0] ?? "Other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), section]);
    }
  }
  const sections = [...byTag].map(([tag, ops]) => `<h2>${escapeHtml(tag)}</h2>${ops.join("\n")}`).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)} API</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body><h1>${escapeHtml(document.info.title)} API</h1><p>${prose(document.info.description)}</p>
<p>The same as OpenAPI 3.1: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
${sections}</body></html>`;
}
