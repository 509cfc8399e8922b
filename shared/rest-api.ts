import { z } from "zod";
import { MetadataSchema, TriggerOptionsSchema } from "./options.js";
import {
  AppendItemsResultSchema,
  BatchItemErrorSchema,
  BatchStatusSchema,
  CreateBatchInputSchema,
  CreateBatchResultSchema,
  IndexedItemSchema,
  ReplayRunInputSchema,
  RunStatusSchema,
  SerializedErrorSchema,
  TaskItemSchema,
  TRIGGER_FUNCTIONS,
  TriggerBatchInputSchema,
} from "./schemas.js";

/**
 * The HTTP API as documented: every route's parameters, bodies and answers, built from the
 * schemas the router validates with. The OpenAPI document (`GET /api/openapi.json`,
 * server/http/openapi.ts) is generated from this table, and the REST layer's presenters
 * (server/rest/present.ts) are typed by its answer schemas, so the document and the code cannot
 * drift apart without the build or test/openapi.test.ts failing.
 */

// ---- answers --------------------------------------------------------------------------------------

/** Every error answer: the same text twice (the SDK reads `error`, the seeds' v3 pages `message`). */
export const ErrorBodySchema = z.object({ error: z.string(), message: z.string() });

/** `GET /api/v1/batches/{batchId}`: absent fields are left out, never null. */
export const BatchV1Schema = z.object({
  id: z.string(),
  status: BatchStatusSchema,
  idempotencyKey: z.string().optional(),
  createdAt: z.date(),
  updatedAt: z.date(),
  runCount: z.number().int(),
  runs: z.array(z.string()),
  successfulRunCount: z.number().int().optional(),
  failedRunCount: z.number().int().optional(),
  errors: z
    .array(
      z.object({
        index: z.number().int(),
        taskIdentifier: z.string(),
        error: z.object({ message: z.string() }),
        errorCode: z.string().optional(),
      }),
    )
    .optional(),
});
export type BatchV1 = z.output<typeof BatchV1Schema>;

/** `GET /api/v2/batches/{batchId}`: what the SDK's `batch.retrieve` parses. */
export const BatchV2Schema = BatchV1Schema.omit({
  successfulRunCount: true,
  failedRunCount: true,
  errors: true,
}).extend({
  processing: z.object({ completedAt: z.date().optional(), errors: z.array(BatchItemErrorSchema) }),
});
export type BatchV2 = z.output<typeof BatchV2Schema>;

/** The fields every run answer shares (Trigger.dev's `CommonRunFields`). */
const CommonRunFieldsSchema = z.object({
  id: z.string(),
  status: RunStatusSchema,
  taskIdentifier: z.string(),
  idempotencyKey: z.string().optional(),
  isQueued: z.boolean(),
  isExecuting: z.boolean(),
  isWaiting: z.boolean(),
  isCompleted: z.boolean(),
  isSuccess: z.boolean(),
  isFailed: z.boolean(),
  isCancelled: z.boolean(),
  isTest: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
  startedAt: z.date().optional(),
  finishedAt: z.date().optional(),
  delayedUntil: z.date().optional(),
  ttl: z.string().optional(),
  expiredAt: z.date().optional(),
  tags: z.array(z.string()),
  costInCents: z.number(),
  baseCostInCents: z.number(),
  durationMs: z.number(),
  metadata: MetadataSchema.optional(),
});
export type CommonRunFields = z.output<typeof CommonRunFieldsSchema>;

/** `GET /api/v3/runs/{runId}`: what the SDK's `runs.retrieve` parses. */
export const RunV3Schema = CommonRunFieldsSchema.extend({
  depth: z.number().int(),
  triggerFunction: z.enum(TRIGGER_FUNCTIONS),
  batchId: z.string().optional(),
  payload: z.unknown().optional(),
  payloadPresignedUrl: z.string().optional(),
  output: z.unknown().optional(),
  outputPresignedUrl: z.string().optional(),
  error: SerializedErrorSchema.optional(),
  relatedRuns: z.object({}),
  attemptCount: z.number().int(),
});
export type RunV3 = z.output<typeof RunV3Schema>;

/** One run of `GET /api/v1/runs` (the SDK's `ListRunResponseItem`). */
export const RunListItemSchema = CommonRunFieldsSchema.extend({
  env: z.object({ id: z.string(), name: z.string() }),
});
export type RunListItem = z.output<typeof RunListItemSchema>;

export const ListRunsV1Schema = z.object({
  data: z.array(RunListItemSchema),
  pagination: z.object({ next: z.string().optional(), previous: z.string().optional() }),
});

/** `GET /api/v1/batches/{batchId}/results` (Trigger.dev's `BatchTaskRunExecutionResult`). */
export const BatchResultsV1Schema = z.object({
  id: z.string(),
  items: z.array(
    z.union([
      z.object({
        ok: z.literal(true),
        id: z.string(),
        taskIdentifier: z.string(),
        output: z.string().optional(),
        outputType: z.literal("application/super+json"),
      }),
      z.object({
        ok: z.literal(false),
        id: z.string(),
        taskIdentifier: z.string(),
        error: z.object({
          type: z.literal("BUILT_IN_ERROR"),
          name: z.string(),
          message: z.string(),
          stackTrace: z.string(),
        }),
      }),
    ]),
  ),
});
export type BatchResultsV1 = z.output<typeof BatchResultsV1Schema>;

const OneShotBatchResultSchema = z.object({ batchId: z.string(), runs: z.array(z.string()) });
const LegacyBatchResultSchema = z.object({ id: z.string(), isCached: z.literal(false), runCount: z.number().int() });
const RunIdSchema = z.object({ id: z.string() });
const TriggerRunResultSchema = z.object({ id: z.string(), isCached: z.boolean() });
const PresignedUrlSchema = z.object({ presignedUrl: z.string(), storagePath: z.string().optional() });
const TokenClaimsSchema = z.object({ sub: z.string(), pub: z.literal(true) });
const PublicTokenSchema = z.object({ token: z.string() });
/** An Electric shape log: row changes and control messages (`up-to-date`, `must-refetch`). */
const ShapeLogSchema = z.array(
  z.object({ headers: z.record(z.string(), z.unknown()), key: z.string().optional(), value: z.unknown().optional() }),
);
const HealthSchema = z.object({ status: z.literal("ok") });
const ReadinessSchema = z.object({
  status: z.enum(["ready", "unavailable", "shutting down"]),
  database: z.enum(["up", "down"]),
  migrations: z.enum(["current", "pending", "unknown"]),
  pendingMigrations: z.array(z.string()).optional(),
  redis: z.enum(["up", "down", "unused"]),
});

// ---- requests -------------------------------------------------------------------------------------

/** `POST /api/v1/auth/public-tokens`: the token the SDK's `auth.createPublicToken` asks to have minted. */
export const CreatePublicTokenBodySchema = z.object({
  scopes: z
    .array(z.string().min(1).max(512))
    .min(1, "scopes must name at least one scope, e.g. read:runs:run_1234")
    .max(100),
  expirationTime: z.union([z.number().int().positive(), z.string().min(1).max(64)]).optional(),
  realtime: z.record(z.string(), z.unknown()).optional(),
  oneTimeUse: z.boolean().optional(),
});

const CreateBatchBodySchema = CreateBatchInputSchema.omit({ requestIdempotencyKey: true });
const OneShotBatchBodySchema = z.object({ items: z.array(TaskItemSchema) });
const OneTaskBatchBodySchema = z.object({ items: z.array(TaskItemSchema.omit({ task: true })) });
const LegacyBatchBodySchema = TriggerBatchInputSchema.pick({
  parentRunId: true,
  resumeParentOnCompletion: true,
}).extend({ items: z.array(TaskItemSchema) });
const TriggerRunBodySchema = z.object({ payload: z.unknown().optional(), options: TriggerOptionsSchema.optional() });
const ReplayBodySchema = ReplayRunInputSchema.omit({ runId: true });
const RescheduleBodySchema = z.object({ delay: z.string() });

// ---- the route table ------------------------------------------------------------------------------

const DASHBOARD_ANSWERS: Record<number, { description: string; schema: z.ZodType; contentType: string }> = {
  200: { description: "The app's page, or the file asked for", schema: z.string(), contentType: "text/html" },
  503: { description: "The dashboard is not built (npm run build)", schema: z.string(), contentType: "text/plain" },
};

/** A documented answer: its schema (JSON unless `contentType` says otherwise) and its headers. */
export interface RestAnswer {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
  headers?: (keyof typeof ANSWER_HEADERS)[];
}

export interface RestRoute {
  method: "GET" | "POST" | "PUT";
  /** OpenAPI's form, `{name}` for a parameter; parameters named as the published pages name them. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** `secret`: a secret key; `read`: a secret key or a public token with a matching scope; `none`. */
  auth: "secret" | "read" | "none" | "signed-url";
  pathParams?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: { schema: z.ZodType; contentType?: string; required: boolean; description?: string };
  responses: Record<number, RestAnswer>;
}

/** Headers answers carry, by name as documented. */
export const ANSWER_HEADERS = {
  "x-trigger-jwt": "A public access token (JWT, 1 h) that can read what was just created, for browser clients",
  "x-trigger-jwt-claims": "The claims of that token, as JSON",
  "X-RateLimit-Limit": "Bucket capacity",
  "X-RateLimit-Remaining": "Tokens left",
  "X-RateLimit-Reset": "Unix seconds when the bucket is full again",
  "Retry-After": "Seconds to wait before retrying",
  "x-should-retry": "Whether retrying the same request can succeed (the SDK obeys it)",
  "x-request-id": "The request's id, as the server's log names it",
} as const;

const error = (description: string, extra: Partial<RestAnswer> = {}): RestAnswer => ({
  description,
  schema: ErrorBodySchema,
  headers: ["x-should-retry"],
  ...extra,
});
const E400 = error("Invalid request (the message says which field and why)");
const E401 = error("The API key is missing, unknown or revoked, or is not a secret key where one is required");
const E403 = error("The key or token may not do this (a public token whose scopes do not cover it)");
const E404 = error("No such resource in the caller's environment");
const E413 = error("The body is larger than allowed");
const E415 = error("The body's Content-Type is not one this route reads");
const E422 = error("The request is well formed but cannot be applied in the resource's current state");
const E429 = error("Rate limit exceeded", {
  headers: ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"],
});
const E500 = error("Internal server error (the message names the request id)");
const E503 = error("The database is unavailable for a moment, or the server is shutting down: retry");
/**
 * What every authenticated route may answer besides its own outcomes (a malformed id or
 * parameter is a 400 everywhere, a public token may lack the scope); a route's own description
 * of one wins.
 */
const COMMON = { 400: E400, 401: E401, 403: E403, 429: E429, 500: E500, 503: E503 };
const withCommon = (answers: Record<number, RestAnswer>): Record<number, RestAnswer> => ({ ...COMMON, ...answers });
const JWT_HEADERS: RestAnswer["headers"] = ["x-trigger-jwt", "x-trigger-jwt-claims"];

const batchId = { batchId: "The batch's id, starts with `batch_`" };
const runId = { runId: "The run's id, starts with `run_`" };
const taskIdentifier = { taskIdentifier: "The id of the task every item runs" };
const requestKey = {
  "x-trigger-request-idempotency-key": "The SDK's per-call retry key: a retried request gets the first answer",
};

export const REST_ROUTES: RestRoute[] = [
  {
    method: "POST",
    path: "/api/v3/batches",
    operationId: "createBatch",
    tag: "Batches",
    summary: "Create a batch (phase 1 of the two-phase batch API)",
    description: "Stream its items next with POST /api/v3/batches/{batchId}/items.",
    auth: "secret",
    headers: requestKey,
    body: { schema: CreateBatchBodySchema, required: true },
    responses: withCommon({
      202: { description: "Batch created", schema: CreateBatchResultSchema, headers: JWT_HEADERS },
      200: { description: "The batch an idempotency key names, `isCached: true`", schema: CreateBatchResultSchema },
      400: error("Invalid request (e.g. runCount <= 0 or above the maximum)"),
      422: E422,
    }),
  },
  {
    method: "POST",
    path: "/api/v3/batches/{batchId}/items",
    operationId: "streamBatchItems",
    tag: "Batches",
    summary: "Stream a batch's items (phase 2)",
    description:
      "NDJSON, one item per line (`{index, task, payload?, options?}`, the `x-ndjson-item` schema), read with " +
      "backpressure and deduplicated by index; the batch is sealed when every index is present.",
    auth: "secret",
    pathParams: batchId,
    body: {
      schema: IndexedItemSchema,
      contentType: "application/x-ndjson",
      required: true,
      description: "Also accepted as application/ndjson",
    },
    responses: withCommon({
      200: { description: "Items accepted", schema: AppendItemsResultSchema },
      400: E400,
      404: E404,
      413: E413,
      415: E415,
      422: E422,
    }),
  },
  {
    method: "POST",
    path: "/api/v1/tasks/{taskIdentifier}/batch",
    operationId: "batchTriggerTask",
    tag: "Batches",
    summary: "Batch trigger one task (up to 1,000 items)",
    auth: "secret",
    pathParams: taskIdentifier,
    body: { schema: OneTaskBatchBodySchema, required: true },
    responses: withCommon({
      200: { description: "Batch triggered", schema: OneShotBatchResultSchema, headers: JWT_HEADERS },
      400: E400,
      404: E404,
      413: E413,
      422: E422,
    }),
  },
  {
    method: "POST",
    path: "/api/v1/tasks/batch",
    operationId: "batchTrigger",
    tag: "Batches",
    summary: "Batch trigger several tasks (up to 1,000 items, `task` on each)",
    auth: "secret",
    body: { schema: OneShotBatchBodySchema, required: true },
    responses: withCommon({
      200: { description: "Batch triggered", schema: OneShotBatchResultSchema, headers: JWT_HEADERS },
      400: E400,
      413: E413,
      422: E422,
    }),
  },
  {
    method: "POST",
    path: "/api/v2/tasks/batch",
    operationId: "batchTriggerV2",
    tag: "Batches",
    summary: "Batch trigger (older SDKs' `batchTriggerV3`)",
    auth: "secret",
    headers: { ...requestKey, "batch-processing-strategy": "`sequential` or `parallel` (both accepted, same result)" },
    body: { schema: LegacyBatchBodySchema, required: true },
    responses: withCommon({
      202: { description: "Batch triggered", schema: LegacyBatchResultSchema, headers: JWT_HEADERS },
      400: E400,
      413: E413,
      422: E422,
    }),
  },
  {
    method: "GET",
    path: "/api/v1/batches/{batchId}",
    operationId: "retrieveBatch",
    tag: "Batches",
    summary: "A batch: status, counts, run ids, item errors",
    auth: "read",
    pathParams: batchId,
    responses: withCommon({ 200: { description: "The batch", schema: BatchV1Schema }, 404: E404 }),
  },
  {
    method: "GET",
    path: "/api/v2/batches/{batchId}",
    operationId: "retrieveBatchV2",
    tag: "Batches",
    summary: "A batch as the SDK's `batch.retrieve` reads it",
    auth: "read",
    pathParams: batchId,
    responses: withCommon({ 200: { description: "The batch", schema: BatchV2Schema }, 404: E404 }),
  },
  {
    method: "GET",
    path: "/api/v1/batches/{batchId}/results",
    operationId: "batchResults",
    tag: "Batches",
    summary: "The results of a batch's finished runs, in index order",
    auth: "read",
    pathParams: batchId,
    responses: withCommon({ 200: { description: "The results", schema: BatchResultsV1Schema }, 404: E404 }),
  },
  {
    method: "POST",
    path: "/api/v1/tasks/{taskIdentifier}/trigger",
    operationId: "triggerTask",
    tag: "Runs",
    summary: "Trigger one run",
    auth: "secret",
    pathParams: { taskIdentifier: "The id of the task to run" },
    headers: requestKey,
    body: { schema: TriggerRunBodySchema, required: false },
    responses: withCommon({
      200: { description: "Run triggered", schema: TriggerRunResultSchema, headers: JWT_HEADERS },
      400: E400,
      422: E422,
    }),
  },
  {
    method: "GET",
    path: "/api/v3/runs/{runId}",
    operationId: "retrieveRun",
    tag: "Runs",
    summary: "A run, with its payload and output (or links to them when offloaded)",
    auth: "read",
    pathParams: runId,
    responses: withCommon({ 200: { description: "The run", schema: RunV3Schema }, 404: E404 }),
  },
  {
    method: "POST",
    path: "/api/v2/runs/{runId}/cancel",
    operationId: "cancelRun",
    tag: "Runs",
    summary: "Cancel a run that has not finished",
    auth: "secret",
    pathParams: runId,
    responses: withCommon({ 200: { description: "Canceled (or already final)", schema: RunIdSchema }, 404: E404 }),
  },
  {
    method: "GET",
    path: "/api/v1/runs",
    operationId: "listRuns",
    tag: "Runs",
    summary: "List runs, newest first, filtered",
    auth: "read",
    query: {
      "page[size]": "Runs per page, 1 to 100 (default 25)",
      "page[after]": "The `pagination.next` of the page before",
      "page[before]": "The `pagination.previous` of the page after",
      "filter[status]": "Statuses, comma-separated",
      "filter[taskIdentifier]": "Task ids, comma-separated",
      "filter[tag]": "Tags, comma-separated (any of them)",
      "filter[queue]": "Queue names, comma-separated",
      "filter[batch]": "A batch id",
      "filter[isTest]": "true or false",
      "filter[createdAt][from]": "Milliseconds since the epoch, or a date-time",
      "filter[createdAt][to]": "Milliseconds since the epoch, or a date-time",
      "filter[createdAt][period]": "A period back from now, e.g. 1h or 7d",
    },
    responses: withCommon({ 200: { description: "A page of runs", schema: ListRunsV1Schema }, 400: E400 }),
  },
  {
    method: "POST",
    path: "/api/v1/runs/{runId}/replay",
    operationId: "replayRun",
    tag: "Runs",
    summary: "A new run of the run's task, with its payload and options (any of them replaced)",
    auth: "secret",
    pathParams: runId,
    body: { schema: ReplayBodySchema, required: false },
    responses: withCommon({
      200: { description: "The new run", schema: RunIdSchema },
      400: E400,
      404: E404,
      422: E422,
    }),
  },
  {
    method: "POST",
    path: "/api/v1/runs/{runId}/reschedule",
    operationId: "rescheduleRun",
    tag: "Runs",
    summary: "A delayed run's new start",
    auth: "secret",
    pathParams: runId,
    body: { schema: RescheduleBodySchema, required: true },
    responses: withCommon({
      200: { description: "The run, rescheduled", schema: RunV3Schema },
      400: E400,
      404: E404,
      422: E422,
    }),
  },
  {
    method: "PUT",
    path: "/api/v2/packets/{key}",
    operationId: "presignPacketUpload",
    tag: "Packets",
    summary: "A signed URL to upload an offloaded payload to (the key may contain slashes)",
    auth: "secret",
    pathParams: { key: "The packet's path" },
    responses: withCommon({ 200: { description: "Where to PUT the bytes", schema: PresignedUrlSchema }, 400: E400 }),
  },
  {
    method: "GET",
    path: "/api/v1/packets/{key}",
    operationId: "presignPacketDownload",
    tag: "Packets",
    summary: "A signed URL to read an uploaded packet from (the key may contain slashes)",
    auth: "secret",
    pathParams: { key: "The packet's path" },
    responses: withCommon({
      200: { description: "Where to GET the bytes", schema: PresignedUrlSchema },
      400: E400,
      404: E404,
    }),
  },
  {
    method: "GET",
    path: "/api/v1/runs/{runId}/packets/{field}",
    operationId: "presignRunPacket",
    tag: "Packets",
    summary: "A signed URL to read a run's payload or output",
    auth: "read",
    pathParams: { ...runId, field: "`payload` or `output`" },
    responses: withCommon({
      200: { description: "Where to GET the bytes", schema: PresignedUrlSchema },
      400: E400,
      404: E404,
    }),
  },
  {
    method: "PUT",
    path: "/packets",
    operationId: "uploadPacket",
    tag: "Packets",
    summary: "Upload a packet's bytes (a signed URL: its token is the credential)",
    auth: "signed-url",
    query: { token: "The URL's signature" },
    body: {
      schema: z.string(),
      contentType: "application/octet-stream",
      required: true,
      description: "Any Content-Type; kept and served back",
    },
    responses: { 200: { description: "Stored" }, 403: E403, 413: E413, 500: E500, 503: E503 },
  },
  {
    method: "GET",
    path: "/packets",
    operationId: "downloadPacket",
    tag: "Packets",
    summary: "Read a packet's bytes, with the Content-Type they were uploaded with (a signed URL)",
    auth: "signed-url",
    query: { token: "The URL's signature" },
    responses: {
      200: { description: "The bytes", schema: z.string(), contentType: "application/octet-stream" },
      403: E403,
      404: E404,
      500: E500,
      503: E503,
    },
  },
  {
    method: "POST",
    path: "/api/v1/auth/jwt/claims",
    operationId: "publicTokenClaims",
    tag: "Auth",
    summary: "The claims a public access token of the caller's environment starts from",
    auth: "secret",
    responses: withCommon({ 200: { description: "The claims", schema: TokenClaimsSchema } }),
  },
  {
    method: "POST",
    path: "/api/v1/auth/public-tokens",
    operationId: "createPublicToken",
    tag: "Auth",
    summary: "Mint a public access token (for additional keys, which the SDK cannot sign with)",
    auth: "secret",
    body: { schema: CreatePublicTokenBodySchema, required: true },
    responses: withCommon({ 200: { description: "The token", schema: PublicTokenSchema }, 400: E400 }),
  },
  {
    method: "GET",
    path: "/realtime/v1/batches/{batchId}",
    operationId: "subscribeBatchRuns",
    tag: "Realtime",
    summary: "The runs of a batch as an Electric shape (what the SDK's runs.subscribeToBatch reads)",
    auth: "read",
    pathParams: batchId,
    query: shapeQuery(),
    responses: shapeAnswers(),
  },
  {
    method: "GET",
    path: "/realtime/v1/runs/{runId}",
    operationId: "subscribeRun",
    tag: "Realtime",
    summary: "One run as an Electric shape (runs.subscribeToRun)",
    auth: "read",
    pathParams: runId,
    query: shapeQuery(),
    responses: shapeAnswers(),
  },
  {
    method: "GET",
    path: "/realtime/v1/runs",
    operationId: "subscribeRunsWithTag",
    tag: "Realtime",
    summary: "The runs with given tags as an Electric shape (runs.subscribeToRunsWithTag)",
    auth: "read",
    query: { ...shapeQuery(), tags: "Tags, comma-separated (any of them)", createdAt: "A period back from now" },
    responses: shapeAnswers(),
  },
  {
    method: "GET",
    path: "/healthz",
    operationId: "liveness",
    tag: "Operations",
    summary: "Liveness: the process answers",
    auth: "none",
    responses: { 200: { description: "Alive", schema: HealthSchema } },
  },
  {
    method: "GET",
    path: "/readyz",
    operationId: "readiness",
    tag: "Operations",
    summary: "Readiness: the database answers, migrations are current, the server is not shutting down",
    auth: "none",
    responses: {
      200: { description: "Ready", schema: ReadinessSchema },
      503: { description: "Not ready, with what is wrong", schema: ReadinessSchema },
    },
  },
  {
    method: "GET",
    path: "/metrics",
    operationId: "metrics",
    tag: "Operations",
    summary: "Prometheus metrics (loopback only, or `Authorization: Bearer <SALVO_METRICS_TOKEN>`)",
    auth: "none",
    responses: {
      200: { description: "Prometheus text format", schema: z.string(), contentType: "text/plain" },
      401: error("SALVO_METRICS_TOKEN is set and the request does not carry it"),
      403: error("Not a loopback request, and SALVO_METRICS_TOKEN is not set"),
    },
  },
  {
    method: "GET",
    path: "/",
    operationId: "home",
    tag: "Dashboard",
    summary: "Redirects to the dashboard",
    auth: "none",
    responses: { 302: { description: "To /dashboard/" } },
  },
  {
    method: "GET",
    path: "/dashboard",
    operationId: "dashboard",
    tag: "Dashboard",
    summary: "The dashboard (a browser app; it signs in with a key and reads the tRPC router)",
    auth: "none",
    responses: DASHBOARD_ANSWERS,
  },
  {
    method: "GET",
    path: "/dashboard/{path}",
    operationId: "dashboardFile",
    tag: "Dashboard",
    summary: "A file of the dashboard's build, or its page for any path the app routes (the path may contain slashes)",
    auth: "none",
    pathParams: { path: "A file of the build, or a page of the app" },
    responses: {
      ...DASHBOARD_ANSWERS,
      404: { description: "An asset that is not in this build", schema: z.object({ error: z.string() }) },
    },
  },
  {
    method: "GET",
    path: "/api/openapi.json",
    operationId: "openapi",
    tag: "Operations",
    summary: "This document",
    auth: "none",
    responses: { 200: { description: "OpenAPI 3.1", schema: z.record(z.string(), z.unknown()) } },
  },
  {
    method: "GET",
    path: "/docs",
    operationId: "docs",
    tag: "Operations",
    summary: "This document as a page to read",
    auth: "none",
    responses: { 200: { description: "HTML", schema: z.string(), contentType: "text/html" } },
  },
];

function shapeQuery(): Record<string, string> {
  return {
    offset: "`-1` for the initial rows, else the `electric-offset` of the last answer",
    handle: "The `electric-handle` of the last answer",
    live: "`true`: a long poll answered when something changes (or after 20 s)",
    cursor: "The `electric-cursor` of the last answer",
    skipColumns: "Columns to leave out, comma-separated",
  };
}

function shapeAnswers(): Record<number, RestAnswer> {
  return withCommon({
    200: { description: "Row changes and control messages", schema: ShapeLogSchema },
    400: E400,
    404: E404,
    409: { description: "The handle is stale (`must-refetch`): start again from offset -1", schema: ShapeLogSchema },
  });
}
