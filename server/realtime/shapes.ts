import { type Kysely, sql } from "kysely";
import type { Database } from "../../db/schema.js";
import type { Caller } from "../auth/authenticate.js";
import { assertCanRead, canRead } from "../auth/scopes.js";
import type { Deps } from "../deps.js";
import { forbidden, notFound } from "../errors.js";
import type { LiveItem, Needs } from "../events/enrich.js";
import type { EventScope, StoredEvent } from "../events/read.js";
import { SHAPE_RUN_COLUMNS, type ShapeRunRow } from "./run-row.js";

/** What a subscriber asked for: the runs of a batch, one run, or the runs carrying tags. */
export type ShapeDefinition =
  | { kind: "batch"; batchId: string }
  | { kind: "run"; runId: string }
  | { kind: "tags"; tags: string[]; createdWithinSeconds?: number };

/** A page of a shape's current rows in the shape's order, each with the cursor that follows it. */
export interface ShapePage {
  rows: { run: ShapeRunRow; cursor: string }[];
  /** The page was full: more rows may follow its last cursor. */
  more: boolean;
}

/**
 * One shape of one environment: which runs belong to it, which events can change them, and its
 * current rows page by page. The same definition in the same environment is the same shape, so
 * every subscriber of it shares its `key` (and its handle).
 */
export interface Shape {
  key: string;
  environmentId: string;
  /** The events a catch-up read covers (always within the environment). */
  scope: EventScope;
  /** What the live feed must read beside its events for `touches` to decide. */
  needs: Needs;
  /** Whether an event may change a row of this shape (decided before any row is read). */
  touches(event: StoredEvent | LiveItem): boolean;
  /** Whether a run, as read now, is a row of this shape. */
  includes(run: ShapeRunRow): boolean;
  /** Current rows after `after` (a cursor from an earlier page), at most `limit`. */
  page(after: string | undefined, limit: number): Promise<ShapePage>;
  /** Whether `after` is a page cursor of this shape. */
  validCursor(after: string): boolean;
}

const runColumns = SHAPE_RUN_COLUMNS.map((c) => `r.${c}` as const);

/**
 * Resolves a definition for a caller: a 404 for a batch or run that is not in the caller's
 * environment, a 403 for one its public token may not read. `snapshotAt` is when the shape's
 * first page was read: a `createdAt` window is counted back from it, so every request of one
 * subscription sees the same shape.
 */
export async function openShape(
  deps: Deps,
  caller: Caller,
  definition: ShapeDefinition,
  snapshotAt: Date,
): Promise<Shape> {
  const environmentId = caller.environment.id;
  switch (definition.kind) {
    case "batch":
      return batchShape(deps.db, caller, environmentId, definition.batchId);
    case "run":
      return runShape(deps.db, caller, environmentId, definition.runId);
    case "tags":
      return tagShape(deps.db, caller, environmentId, definition, snapshotAt);
  }
}

async function batchShape(db: Kysely<Database>, caller: Caller, environmentId: string, batchId: string) {
  const exists = await db
    .selectFrom("batches")
    .select("id")
    .where("id", "=", batchId)
    .where("environment_id", "=", environmentId)
    .executeTakeFirst();
  if (!exists) throw notFound(`Batch ${batchId} not found`);
  assertCanRead(caller, { kind: "batch", batchId });
  return {
    key: `batch:${batchId}`,
    environmentId,
    scope: { environmentId, batchId },
    needs: { batches: false, runs: false },
    touches: (event) => event.batchId === batchId,
    includes: (run) => run.batch_id === batchId,
    validCursor: (after) => /^\d{1,10}$/.test(after),
    // The batch's own runs in index order, through its ledger (runs carry no index by batch).
    async page(after, limit) {
      const rows = await db
        .selectFrom("batch_items as i")
        .innerJoin("runs as r", "r.id", "i.run_id")
        .select([...runColumns, "i.batch_index"])
        .where("i.batch_id", "=", batchId)
        .where("i.cached", "=", false)
        .where("r.environment_id", "=", environmentId)
        .$if(after !== undefined, (q) => q.where("i.batch_index", ">", Number(after)))
        .orderBy("i.batch_index")
        .limit(limit)
        .execute();
      return {
        rows: rows.map(({ batch_index, ...run }) => ({ run, cursor: String(batch_index) })),
        more: rows.length === limit,
      };
    },
  } satisfies Shape;
}

async function runShape(db: Kysely<Database>, caller: Caller, environmentId: string, runId: string) {
  const run = await db
    .selectFrom("runs as r")
    .select(runColumns)
    .where("r.id", "=", runId)
    .where("r.environment_id", "=", environmentId)
    .executeTakeFirst();
  if (!run) throw notFound(`Run ${runId} not found`);
  assertCanRead(caller, {
    kind: "run",
    runId,
    taskIdentifier: run.task_identifier,
    tags: run.tags,
    ...(run.batch_id !== null ? { batchId: run.batch_id } : {}),
  });
  return {
    key: `run:${runId}`,
    environmentId,
    scope: { environmentId, runId },
    needs: { batches: false, runs: false },
    touches: (event) => event.runId === runId,
    includes: (row) => row.id === runId,
    validCursor: () => false,
    async page() {
      const row = await db
        .selectFrom("runs as r")
        .select(runColumns)
        .where("r.id", "=", runId)
        .where("r.environment_id", "=", environmentId)
        .executeTakeFirst();
      return { rows: row ? [{ run: row, cursor: "" }] : [], more: false };
    },
  } satisfies Shape;
}

async function tagShape(
  db: Kysely<Database>,
  caller: Caller,
  environmentId: string,
  definition: { tags: string[]; createdWithinSeconds?: number },
  snapshotAt: Date,
) {
  const tags = [...new Set(definition.tags)].sort();
  for (const tag of tags) {
    // A public token must be able to read every tag it subscribes to: rows are runs carrying any.
    if (!canRead(caller, { kind: "run", runId: "", taskIdentifier: "", tags: [tag] }))
      throw forbidden(`This public access token may not read runs tagged ${tag}: it needs the scope read:tags:${tag}`);
  }
  const since =
    definition.createdWithinSeconds === undefined
      ? undefined
      : new Date(snapshotAt.getTime() - definition.createdWithinSeconds * 1000);
  const carries = (runTags: string[]) => runTags.some((t) => tags.includes(t));
  return {
    key: `tags:${JSON.stringify(tags)}:${definition.createdWithinSeconds ?? ""}`,
    environmentId,
    scope: { environmentId },
    // The feed's run states carry tags: events of other runs are dropped before any row is read.
    needs: { batches: false, runs: true },
    touches(event) {
      if (event.type === "runs.created") return true;
      if (event.runId === null) return false;
      const run = (event as LiveItem).run;
      return run === undefined || carries(run.tags);
    },
    includes: (run) => carries(run.tags) && (since === undefined || new Date(run.created_at) >= since),
    validCursor: (after) => /^run_[0-9a-z]{1,40}$/.test(after),
    async page(after, limit) {
      const rows = await db
        .selectFrom("runs as r")
        .select(runColumns)
        .where("r.environment_id", "=", environmentId)
        .where(sql<boolean>`r.tags && ${sql.val(tags)}::text[]`)
        .$if(since !== undefined, (q) => q.where("r.created_at", ">=", since!))
        .$if(after !== undefined, (q) => q.where("r.id", ">", after!))
        .orderBy("r.id")
        .limit(limit)
        .execute();
      return { rows: rows.map((run) => ({ run, cursor: run.id })), more: rows.length === limit };
    },
  } satisfies Shape;
}

/** A run whose row changed: `created` when the change that named it was its creation. */
export interface ChangedRun {
  run: ShapeRunRow;
  created: boolean;
}

/**
 * The shape's rows that the events changed, read now (once for all the events). A run is named by
 * its own events; a batch's new runs by the `runs.created` event of the call that created them,
 * through the range of indexes it carries. Rows no longer (or not) in the shape are left out.
 */
export async function changedRuns(
  db: Kysely<Database>,
  shape: Shape,
  events: readonly (StoredEvent | LiveItem)[],
): Promise<ChangedRun[]> {
  const named = new Map<string, boolean>();
  const ranges: { batchId: string; first: number; last: number }[] = [];
  for (const event of events) {
    if (!shape.touches(event)) continue;
    if (event.runId !== null) named.set(event.runId, (named.get(event.runId) ?? false) || event.type === "run.created");
    else if (event.type === "runs.created" && event.batchId !== null) {
      const { firstIndex, lastIndex } = event.data as { firstIndex?: unknown; lastIndex?: unknown };
      if (typeof firstIndex === "number" && typeof lastIndex === "number")
        ranges.push({ batchId: event.batchId, first: firstIndex, last: lastIndex });
    }
  }
  if (named.size === 0 && ranges.length === 0) return [];
  const rows = await db
    .selectFrom("runs as r")
    .select(runColumns)
    .where("r.environment_id", "=", shape.environmentId)
    .where((eb) =>
      eb.or([
        ...(named.size > 0 ? [eb("r.id", "in", [...named.keys()])] : []),
        ...ranges.map((range) =>
          eb(
            "r.id",
            "in",
            eb
              .selectFrom("batch_items as i")
              .select("i.run_id")
              .where("i.batch_id", "=", range.batchId)
              .where("i.batch_index", ">=", range.first)
              .where("i.batch_index", "<=", range.last)
              .where("i.cached", "=", false)
              .where("i.run_id", "is not", null),
          ),
        ),
      ]),
    )
    .orderBy("r.id")
    .execute();
  const fromRanges = new Set(ranges.length > 0 ? rows.filter((r) => !named.has(r.id)).map((r) => r.id) : []);
  return rows
    .filter((run) => shape.includes(run))
    .map((run) => ({ run, created: named.get(run.id) === true || fromRanges.has(run.id) }));
}
