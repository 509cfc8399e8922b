import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { parseDurationSeconds } from "../../shared/durations.js";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import { type ShapeRequest, serveShape } from "../realtime/serve-shape.js";
import type { ShapeDefinition } from "../realtime/shapes.js";
import { type RestCall, restHandler } from "./context.js";

type Query = Record<string, string | string[] | undefined>;

const MAX_TAGS = 10;
const MAX_TAG_LENGTH = 128;

/** One value of a query parameter; a repeated one is a 400. */
function param(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw badRequest(`${name} must be given once`);
  return value;
}

/** `tags=a,b` and `createdAt=1h` of `runs.subscribeToRunsWithTag`. */
function tagShape(query: Query): ShapeDefinition {
  const tags = (param(query, "tags") ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  if (tags.length === 0) throw badRequest("tags is required: the runs carrying any of these tags (comma-separated)");
  if (tags.length > MAX_TAGS) throw badRequest(`at most ${MAX_TAGS} tags`);
  if (tags.some((t) => t.length > MAX_TAG_LENGTH)) throw badRequest(`a tag is at most ${MAX_TAG_LENGTH} characters`);
  const createdAt = param(query, "createdAt");
  if (createdAt === undefined) return { kind: "tags", tags };
  const seconds = parseDurationSeconds(createdAt);
  if (seconds === undefined) throw badRequest(`createdAt "${createdAt.slice(0, 64)}" is not a period such as 1h or 7d`);
  return { kind: "tags", tags, createdWithinSeconds: seconds };
}

/**
 * The realtime routes the SDK's `runs.subscribeToBatch`, `subscribeToRun` and
 * `subscribeToRunsWithTag` (and the React hooks) read with Electric's shape protocol: each a
 * translation of the request into `serveShape` (server/realtime/), as the caller of the request.
 */
export function registerRealtimeRoutes(app: FastifyInstance, deps: Deps) {
  const shapeRoute = (definition: (req: FastifyRequest) => ShapeDefinition) =>
    restHandler(deps, async (req: FastifyRequest, reply: FastifyReply, call: RestCall) => {
      const query = req.query as Query;
      const request: ShapeRequest = {
        offset: param(query, "offset"),
        handle: param(query, "handle"),
        live: param(query, "live"),
        cursor: param(query, "cursor"),
        skipColumns: param(query, "skipColumns"),
      };
      const shape = definition(req);
      const caller = await (request.live === "true" ? call.subscriber() : call.reader());
      // A long poll ends early when its client goes away.
      const gone = new AbortController();
      reply.raw.once("close", () => gone.abort());
      const response = await serveShape(deps, caller, shape, request, gone.signal);
      return reply.status(response.status).headers(response.headers).send(response.body);
    });

  app.get<{ Params: { batchId: string } }>(
    "/realtime/v1/batches/:batchId",
    shapeRoute((req) => ({ kind: "batch", batchId: (req.params as { batchId: string }).batchId })),
  );
  app.get<{ Params: { runId: string } }>(
    "/realtime/v1/runs/:runId",
    shapeRoute((req) => ({ kind: "run", runId: (req.params as { runId: string }).runId })),
  );
  app.get(
    "/realtime/v1/runs",
    shapeRoute((req) => tagShape(req.query as Query)),
  );
}
