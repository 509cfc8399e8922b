import type { Caller } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import type { LiveItem } from "../events/enrich.js";
import { eventFeeds, type FeedListener } from "../events/feed.js";
import { comparePositions, maxPosition, type Position } from "../events/position.js";
import { readEvents, type StoredEvent } from "../events/read.js";
import { openSubscriptions } from "../observability/metrics.js";
import {
  handleTime,
  liveCursor,
  liveOffset,
  makeHandle,
  parseOffset,
  type ShapeOffset,
  snapshotOffset,
} from "./offsets.js";
import { parseSkipColumns, type ShapeColumn, schemaHeader, shapeRow, withoutSkipped } from "./run-row.js";
import { type ChangedRun, changedRuns, openShape, type Shape, type ShapeDefinition } from "./shapes.js";

/** The protocol parameters of one shape request (Electric's names). */
export interface ShapeRequest {
  offset?: string;
  handle?: string;
  live?: string;
  cursor?: string;
  skipColumns?: string;
}

export interface ShapeResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Rows per response while the initial rows are read (a response is also cut at BODY_BYTES). */
const PAGE_ROWS = 1000;
const BODY_BYTES = 8 * 1024 * 1024;
/** Events read per catch-up query. */
const EVENT_PAGE = 1000;
/** How long a live request waits for a change before answering "still up to date" (Electric's 20 s). */
export const LONG_POLL_MS = 20_000;

const UP_TO_DATE = { headers: { control: "up-to-date" } };
const MUST_REFETCH = { headers: { control: "must-refetch" } };

/**
 * One request of Electric's HTTP shape protocol, as `@electric-sql/client` (what the SDK's
 * realtime functions read with) expects it:
 * - `offset=-1`: the shape's current rows as `insert` messages, a page at a time; the last page
 *   ends with an `up-to-date` control message (and header);
 * - `handle` + `offset` (from the headers of the previous answer): the next page, or the changes
 *   since, as `insert`/`update` messages carrying the whole row;
 * - `live=true` too: a long poll answered as soon as something of the shape changes, or with
 *   only `up-to-date` after LONG_POLL_MS;
 * - a handle that is not this shape's, or too old for the events still kept: 409 with
 *   `must-refetch` and a new handle, so the client reads the rows again.
 * Live changes come from the process's event feed (one reader per environment); subscribers of
 * one shape given the same events share one row read and one serialized body.
 */
export async function serveShape(
  deps: Deps,
  caller: Caller,
  definition: ShapeDefinition,
  request: ShapeRequest,
  signal: AbortSignal,
): Promise<ShapeResponse> {
  const offset = parseOffset(request.offset ?? "-1");
  if (!offset) throw badRequest(`offset "${String(request.offset).slice(0, 64)}" is not an offset of this server`);
  const skipped = parseSkipColumns(request.skipColumns);
  const live = request.live === "true";
  const environmentId = caller.environment.id;

  if (offset.kind === "initial" || offset.kind === "now") {
    const snapshotAt = new Date();
    const shape = await openShape(deps, caller, definition, snapshotAt);
    const handle = makeHandle(environmentId, shape.key, snapshotAt);
    return offset.kind === "now"
      ? answerNow(deps, shape, handle, skipped, request)
      : snapshotPage(deps, shape, handle, undefined, undefined, skipped, request);
  }

  // Which shape the handle names decides the `createdAt` window; the digest is checked below.
  const stamped = request.handle ? /-(\d{1,15})$/.exec(request.handle) : null;
  const snapshotAt = stamped ? new Date(Number(stamped[1])) : new Date();
  const shape = await openShape(deps, caller, definition, snapshotAt);
  const handleAt = request.handle ? handleTime(request.handle, environmentId, shape.key) : undefined;
  const retention = deps.config.events.retentionHours * 3_600_000;
  if (!handleAt || handleAt.getTime() < Date.now() - retention) return mustRefetch(shape);

  const handle = request.handle!;
  if (offset.kind === "snapshot") {
    if (!shape.validCursor(offset.cursor))
      throw badRequest(`offset "${request.offset}" is not an offset of this shape`);
    return snapshotPage(deps, shape, handle, offset.position, offset.cursor, skipped, request);
  }
  return changesSince(deps, shape, handle, offset, live, skipped, request, signal);
}

function headers(
  handle: string,
  offset: string,
  skipped: ReadonlySet<ShapeColumn>,
  request: ShapeRequest,
  upToDate: boolean,
) {
  return {
    "content-type": "application/json",
    "cache-control": "no-store",
    "electric-handle": handle,
    "electric-offset": offset,
    "electric-schema": schemaHeader(skipped),
    "electric-cursor": liveCursor(request.cursor),
    ...(upToDate ? { "electric-up-to-date": "" } : {}),
  };
}

const messageKey = (runId: string) => `"public"."TaskRun"/"${runId}"`;

function changeMessages(changes: ChangedRun[], skipped: ReadonlySet<ShapeColumn>) {
  return changes.map(({ run, created }) => ({
    key: messageKey(run.id),
    value: withoutSkipped(shapeRow(run), skipped),
    headers: { operation: created ? "insert" : "update", relation: ["public", "TaskRun"] },
  }));
}

function mustRefetch(shape: Shape): ShapeResponse {
  const handle = makeHandle(shape.environmentId, shape.key, new Date());
  return {
    status: 409,
    headers: { "content-type": "application/json", "cache-control": "no-store", "electric-handle": handle },
    body: JSON.stringify([MUST_REFETCH]),
  };
}

/**
 * A page of the initial rows. The first page fixes the position they are read as of: every event
 * up to it is reflected in them, and the changes after it are sent once the pages are done.
 */
async function snapshotPage(
  deps: Deps,
  shape: Shape,
  handle: string,
  position: Position | undefined,
  cursor: string | undefined,
  skipped: ReadonlySet<ShapeColumn>,
  request: ShapeRequest,
): Promise<ShapeResponse> {
  const asOf = position ?? (await feedHead(deps, shape));
  const page = await shape.page(cursor, PAGE_ROWS);
  const parts: string[] = [];
  let bytes = 0;
  let next = page.more ? page.rows.at(-1)?.cursor : undefined;
  for (const [i, row] of page.rows.entries()) {
    const part = JSON.stringify(changeMessages([{ run: row.run, created: true }], skipped)[0]);
    parts.push(part);
    bytes += part.length;
    // Cut a page of large rows short: the next request continues after the last row sent.
    if (bytes > BODY_BYTES && i < page.rows.length - 1) {
      next = row.cursor;
      break;
    }
  }
  const done = next === undefined;
  if (done) parts.push(JSON.stringify(UP_TO_DATE));
  const offset = next === undefined ? liveOffset(asOf) : snapshotOffset(asOf, next);
  return { status: 200, headers: headers(handle, offset, skipped, request, done), body: `[${parts.join(",")}]` };
}

async function answerNow(
  deps: Deps,
  shape: Shape,
  handle: string,
  skipped: ReadonlySet<ShapeColumn>,
  request: ShapeRequest,
): Promise<ShapeResponse> {
  const head = await feedHead(deps, shape);
  return {
    status: 200,
    headers: headers(handle, liveOffset(head), skipped, request, true),
    body: JSON.stringify([UP_TO_DATE]),
  };
}

/** Every event up to the returned position is reflected in state read after this resolves. */
async function feedHead(deps: Deps, shape: Shape): Promise<Position> {
  const { head, leave } = await eventFeeds(deps).join(shape.environmentId, {
    needs: { batches: false, runs: false },
    deliver: () => {},
  });
  leave();
  return head;
}

/** Collects the feed's events that may touch the shape while a request is open. */
class ShapeListener implements FeedListener {
  items: LiveItem[] = [];
  /** The last position the feed delivered (of any event): everything up to it has been seen. */
  seen: Position | undefined;
  #wake: (() => void) | undefined;
  constructor(
    readonly needs: FeedListener["needs"],
    private readonly shape: Shape,
  ) {}

  deliver(items: LiveItem[]): void {
    const last = items.at(-1);
    if (last) this.seen = last.position;
    let added = false;
    for (const item of items)
      if (this.shape.touches(item)) {
        this.items.push(item);
        added = true;
      }
    if (added) this.#wake?.();
  }

  /** Resolves when touching events are there, after `ms`, or when the signal aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.items.length > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }
}

/**
 * Changes since a position: what Postgres holds beyond it (a subscriber that was away), then,
 * for a live request with nothing to send yet, what the feed brings until LONG_POLL_MS.
 */
async function changesSince(
  deps: Deps,
  shape: Shape,
  handle: string,
  offset: Extract<ShapeOffset, { kind: "live" }>,
  live: boolean,
  skipped: ReadonlySet<ShapeColumn>,
  request: ShapeRequest,
  signal: AbortSignal,
): Promise<ShapeResponse> {
  const listener = new ShapeListener(shape.needs, shape);
  const { head, leave } = await eventFeeds(deps).join(shape.environmentId, listener);
  try {
    let cursor = offset.position;
    let caughtUp = true;
    let events: (StoredEvent | LiveItem)[] = [];
    // The feed hands over every event after its head; before it, Postgres has what was missed.
    if (comparePositions(cursor, head) < 0) {
      const page = await readEvents(deps.db, shape.scope, cursor, EVENT_PAGE);
      events = page.events;
      cursor = page.next;
      caughtUp = !page.more;
    }
    let changes = await changedRuns(deps.db, shape, events);
    if (changes.length === 0 && live && caughtUp) {
      const waitUntil = Date.now() + LONG_POLL_MS;
      const stop = AbortSignal.any([signal, deps.closing]);
      openSubscriptions.inc({ kind: "realtime" });
      try {
        while (changes.length === 0 && !stop.aborted && Date.now() < waitUntil) {
          await listener.wait(waitUntil - Date.now(), stop);
          const fresh = listener.items.filter((item) => comparePositions(item.position, cursor) > 0);
          listener.items = [];
          if (fresh.length === 0) continue;
          changes = await sharedChanges(deps, shape, fresh);
          cursor = fresh.at(-1)!.position;
        }
      } finally {
        openSubscriptions.dec({ kind: "realtime" });
      }
    }
    // Caught up, the feed's deliveries continue Postgres's: every event up to the last is seen.
    if (caughtUp && listener.seen) cursor = maxPosition(cursor, listener.seen);
    const body = [...changeMessages(changes, skipped), ...(caughtUp ? [UP_TO_DATE] : [])];
    return {
      status: 200,
      headers: headers(handle, liveOffset(cursor), skipped, request, caughtUp),
      body: JSON.stringify(body),
    };
  } finally {
    leave();
  }
}

/**
 * The feed hands the same item objects to every listener of a process: listeners of one shape
 * woken by the same events read their rows once (keyed by the last item and the shape).
 */
const sharedReads = new WeakMap<LiveItem, Map<string, { items: LiveItem[]; changes: Promise<ChangedRun[]> }>>();
function sharedChanges(deps: Deps, shape: Shape, items: LiveItem[]): Promise<ChangedRun[]> {
  const last = items.at(-1)!;
  let byShape = sharedReads.get(last);
  const known = byShape?.get(shape.key);
  if (known && known.items.length === items.length && known.items.every((item, i) => item === items[i]))
    return known.changes;
  const changes = changedRuns(deps.db, shape, items);
  if (!byShape) {
    byShape = new Map();
    sharedReads.set(last, byShape);
  }
  const shared = byShape;
  shared.set(shape.key, { items, changes });
  // A failed read is not kept for the next listener.
  changes.catch(() => shared.delete(shape.key));
  return changes;
}
