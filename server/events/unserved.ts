import { type Kysely, sql } from "kysely";
import type { Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import type { UnservedTask } from "../../shared/live.js";
import type { BackgroundTask } from "../background.js";
import type { Deps } from "../deps.js";
import { notifyEvents } from "./notify.js";
import { appendEvents } from "./outbox.js";

/**
 * Runs nobody serves: a task's runs `QUEUED` for `SALVO_UNSERVED_AFTER_MS` while no connected
 * worker (an open presence stream, see server/queue/presence.ts) has registered for that task would otherwise
 * wait in silence for ever. They are reported in the progress of their batches (`unserved`) and
 * once in the log, with a `task.unserved` event so watchers of those batches hear of it at once.
 *
 * A worker counts as connected from its presence stream opening until the server sees it close;
 * a server that crashed never records the close of its workers' streams, so those workers count
 * as connected until they reconnect elsewhere (their next stream) or are seen to close there.
 */

/** Tasks served by the connected workers of each environment. */
async function servedTasks(db: Kysely<Database>, environmentIds: string[]): Promise<Map<string, Set<string>>> {
  const served = new Map<string, Set<string>>();
  if (environmentIds.length === 0) return served;
  const rows = await db
    .selectFrom("workers")
    .select(["environment_id", "tasks"])
    .where("environment_id", "in", environmentIds)
    .where("connection_id", "is not", null)
    .where("disconnected_at", "is", null)
    .execute();
  for (const row of rows) {
    const tasks = served.get(row.environment_id) ?? new Set<string>();
    for (const task of row.tasks) tasks.add(task);
    served.set(row.environment_id, tasks);
  }
  return served;
}

/** Per batch, the tasks of its runs queued since before `afterMs` ago that no connected worker serves. */
export async function unservedOfBatches(
  db: Kysely<Database>,
  environmentId: string,
  batchIds: string[],
  afterMs: number,
): Promise<Map<string, UnservedTask[]>> {
  const result = new Map<string, UnservedTask[]>();
  if (batchIds.length === 0) return result;
  const waiting = await db
    .selectFrom("batch_items as i")
    .innerJoin("runs as r", "r.id", "i.run_id")
    .select([
      "i.batch_id",
      "r.task_identifier",
      sql<number>`count(*)::int`.as("queued"),
      sql<Date>`min(r.updated_at)`.as("since"),
    ])
    .where("i.batch_id", "in", batchIds)
    .where("r.environment_id", "=", environmentId)
    .where("r.status", "=", "QUEUED")
    .where("r.updated_at", "<=", new Date(Date.now() - afterMs))
    .groupBy(["i.batch_id", "r.task_identifier"])
    .execute();
  if (waiting.length === 0) return result;
  const served = (await servedTasks(db, [environmentId])).get(environmentId);
  for (const row of waiting) {
    if (served?.has(row.task_identifier)) continue;
    const list = result.get(row.batch_id) ?? [];
    list.push({ task: row.task_identifier, queued: row.queued, since: new Date(row.since) });
    result.set(row.batch_id, list);
  }
  return result;
}

/** What each server process has already reported (environment + task), so the log says it once. */
const reportedByServer = new WeakMap<Deps, Set<string>>();

/** Most batches one report names in events (a task's runs spread over more are still in the log). */
const MAX_BATCHES_PER_REPORT = 1000;

async function reportUnserved(deps: Deps) {
  const { db } = deps;
  const afterMs = deps.config.execution.unservedAfterMs;
  const waiting = await db
    .selectFrom("runs")
    .select([
      "environment_id",
      "task_identifier",
      sql<number>`count(*)::int`.as("queued"),
      sql<Date>`min(updated_at)`.as("since"),
    ])
    .where("status", "=", "QUEUED")
    .where("updated_at", "<=", new Date(Date.now() - afterMs))
    .groupBy(["environment_id", "task_identifier"])
    .execute();
  const served = await servedTasks(db, [...new Set(waiting.map((w) => w.environment_id))]);
  const unserved = waiting.filter((w) => !served.get(w.environment_id)?.has(w.task_identifier));

  const reported = reportedByServer.get(deps) ?? new Set<string>();
  reportedByServer.set(deps, reported);
  const keyOf = (w: { environment_id: string; task_identifier: string }) => `${w.environment_id}\0${w.task_identifier}`;
  // Served again, or drained: a later wait is said again.
  const current = new Set(unserved.map(keyOf));
  for (const key of reported) if (!current.has(key)) reported.delete(key);

  for (const w of unserved) {
    if (reported.has(keyOf(w))) continue;
    reported.add(keyOf(w));
    const seconds = Math.round((Date.now() - new Date(w.since).getTime()) / 1000);
    deps.log.warn(
      { environmentId: w.environment_id, task: w.task_identifier, queued: w.queued },
      `runs of task "${w.task_identifier}" in ${w.environment_id} have waited ${seconds} s with no worker serving it ` +
        `(${w.queued} queued): start a worker that exports it (salvo worker <module>)`,
    );
    const batches = await db
      .selectFrom("runs")
      .select("batch_id")
      .distinct()
      .where("environment_id", "=", w.environment_id)
      .where("task_identifier", "=", w.task_identifier)
      .where("status", "=", "QUEUED")
      .where("batch_id", "is not", null)
      .limit(MAX_BATCHES_PER_REPORT)
      .execute();
    if (batches.length === 0) continue;
    await transaction(db, (trx) =>
      appendEvents(
        trx,
        batches.map((b) => ({
          environment_id: w.environment_id,
          batch_id: b.batch_id,
          type: "task.unserved",
          data: JSON.stringify({ task: w.task_identifier, queued: w.queued }),
        })),
      ),
    );
    notifyEvents(deps.bus, w.environment_id);
  }
}

export const reportUnservedRuns: BackgroundTask = {
  name: "report-unserved-runs",
  // A quarter of the wait, within 250 ms..15 s: reported at most a quarter late, and a sweep over
  // the queued runs costs at most one query every 15 s.
  intervalMs: (deps) => Math.min(15_000, Math.max(250, Math.floor(deps.config.execution.unservedAfterMs / 4))),
  run: reportUnserved,
};
