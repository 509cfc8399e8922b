import type { FastifyInstance } from "fastify";
import type { z } from "zod";
import { parseDurationSeconds } from "../../shared/durations.js";
import { type ListRunsInputSchema, RUN_STATUSES, type RunStatus } from "../../shared/schemas.js";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import { objectBody, restHandler } from "./context.js";
import { runPacketLinks } from "./packets.js";
import { runListItemV1, runV3 } from "./present.js";

type RunParams = { Params: { runId: string } };
type Query = Record<string, string | string[] | undefined>;
type ListRunsInput = z.input<typeof ListRunsInputSchema> & { status?: RunStatus[] };

/** A filter's value; a repeated parameter is a 400. */
function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw badRequest(`${name} must be given once`);
  return value === "" ? undefined : value;
}

const list = (query: Query, name: string) =>
  single(query, name)
    ?.split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");

/**
 * The SDK's statuses as Salvo's: QUEUED is also a run waiting for its next attempt; statuses
 * Salvo never gives a run (PENDING_VERSION, DEQUEUED) match none.
 */
function statuses(names: string[]): RunStatus[] {
  const out: RunStatus[] = [];
  for (const name of names) {
    if (name === "PENDING_VERSION" || name === "DEQUEUED") continue;
    if (!(RUN_STATUSES as readonly string[]).includes(name) || name === "REATTEMPTING")
      throw badRequest(`filter[status]: unknown status "${name.slice(0, 64)}"`);
    out.push(name as RunStatus);
    if (name === "QUEUED") out.push("REATTEMPTING");
  }
  return out;
}

/** `filter[createdAt][from]`: milliseconds since the epoch (what the SDK sends) or a date-time. */
function instant(query: Query, name: string): Date | undefined {
  const text = single(query, name);
  if (text === undefined) return undefined;
  const date = /^\d{1,15}$/.test(text) ? new Date(Number(text)) : new Date(text);
  if (Number.isNaN(date.getTime())) throw badRequest(`${name} must be a time in milliseconds or a date-time`);
  return date;
}

/** Filters Salvo has nothing to match with: refused rather than silently ignored. */
const UNSUPPORTED = ["version", "bulkAction", "schedule", "machine", "region"];

/** `runs.list`'s query (`filter[…]`, `page[…]`) as `run.list`'s input. */
function listInput(query: Query) {
  for (const name of UNSUPPORTED)
    if (query[`filter[${name}]`] !== undefined) throw badRequest(`filter[${name}] is not supported by this server`);
  const size = single(query, "page[size]");
  const limit = size === undefined ? undefined : Number(size);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 100))
    throw badRequest("page[size] must be a whole number from 1 to 100");
  const status = list(query, "filter[status]");
  const isTest = single(query, "filter[isTest]");
  if (isTest !== undefined && isTest !== "true" && isTest !== "false")
    throw badRequest("filter[isTest] must be true or false");
  const period = single(query, "filter[createdAt][period]");
  const periodSeconds = period === undefined ? undefined : parseDurationSeconds(period);
  if (period !== undefined && periodSeconds === undefined)
    throw badRequest(`filter[createdAt][period] "${period.slice(0, 64)}" is not a period such as 1h or 7d`);
  const from = instant(query, "filter[createdAt][from]");
  const since = periodSeconds === undefined ? undefined : new Date(Date.now() - periodSeconds * 1000);
  const createdFrom = from && since ? new Date(Math.max(from.getTime(), since.getTime())) : (from ?? since);
  const createdTo = instant(query, "filter[createdAt][to]");
  const input: ListRunsInput = {};
  if (limit !== undefined) input.limit = limit;
  const after = single(query, "page[after]");
  const before = single(query, "page[before]");
  // The SDK's `getPreviousPage` sends `page[before]` beside the `page[after]` that led here.
  if (before !== undefined) input.before = before;
  else if (after !== undefined) input.cursor = after;
  if (status !== undefined) input.status = statuses(status);
  const task = list(query, "filter[taskIdentifier]");
  const tag = list(query, "filter[tag]");
  const queue = list(query, "filter[queue]");
  const batch = single(query, "filter[batch]");
  if (task?.length) input.taskIdentifier = task;
  if (tag?.length) input.tag = tag;
  if (queue?.length) input.queue = queue;
  if (batch !== undefined) input.batchId = batch;
  if (isTest !== undefined) input.isTest = isTest === "true";
  if (createdFrom !== undefined) input.createdFrom = createdFrom;
  if (createdTo !== undefined) input.createdTo = createdTo;
  return input;
}

/**
 * Run management as the SDK calls it: `runs.list`, `runs.replay`, `runs.reschedule`. Each route
 * translates into its `run.*` procedure.
 */
export function registerRunRoutes(app: FastifyInstance, deps: Deps) {
  const route = restHandler.bind(null, deps);

  app.get(
    "/api/v1/runs",
    route(async (req, reply, call) => {
      const input = listInput(req.query as Query);
      const caller = await call.who();
      // Statuses that exist only in Trigger.dev match no run here.
      if (input.status?.length === 0) return reply.send({ data: [], pagination: {} });
      const page = await call.trpc.run.list(input);
      return reply.send({
        data: page.items.map((run) => runListItemV1(run, caller.environment)),
        pagination: {
          ...(page.nextCursor !== undefined ? { next: page.nextCursor } : {}),
          ...(page.previousCursor !== undefined ? { previous: page.previousCursor } : {}),
        },
      });
    }),
  );

  app.post<RunParams>(
    "/api/v1/runs/:runId/replay",
    route(async (req, reply, call) => {
      // The SDK sends no body at all when nothing is replaced.
      const body = req.body === undefined ? {} : objectBody(req);
      const { id } = await call.trpc.run.replay({ ...body, runId: (req.params as RunParams["Params"]).runId } as never);
      return reply.send({ id });
    }),
  );

  app.post<RunParams>(
    "/api/v1/runs/:runId/reschedule",
    route(async (req, reply, call) => {
      const runId = (req.params as RunParams["Params"]).runId;
      const { delay } = objectBody(req);
      await call.trpc.run.reschedule({ runId, delay: delay as string });
      const run = await call.trpc.run.get({ runId });
      return reply.send(runV3(run, runPacketLinks(deps, req, await call.who(), run)));
    }),
  );
}
