import { transaction } from "../../db/transaction.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badRequest, notFound } from "../errors.js";
import { notifyEvents } from "../events/notify.js";
import { appendEvents } from "../events/outbox.js";
import { delayUntil } from "./prepare.js";

/**
 * Moves a DELAYED run's start to a new time (a delay from now, or a date-time); one in the past
 * lets the run be queued at the next sweep. Its TTL counts from the new start, as at creation.
 * A run in any other status is a 400, as Trigger.dev answers it. Subscribers are told with a
 * `run.rescheduled` event.
 */
export async function rescheduleRun(
  deps: Deps,
  environment: AuthenticatedEnvironment,
  input: { runId: string; delay: string },
): Promise<{ id: string }> {
  await transaction(deps.db, async (trx) => {
    const run = await trx
      .selectFrom("runs")
      .select(["id", "status", "batch_id", "ttl_seconds"])
      .where("id", "=", input.runId)
      .where("environment_id", "=", environment.id)
      .forUpdate()
      .executeTakeFirst();
    if (!run) throw notFound(`Run ${input.runId} not found`);
    if (run.status !== "DELAYED")
      throw badRequest(`Run ${input.runId} is ${run.status}: only a DELAYED run can be rescheduled`);
    const now = new Date();
    const startAt = delayUntil(input.delay, now) ?? now;
    await trx
      .updateTable("runs")
      .set({
        delay_until: startAt,
        expires_at: run.ttl_seconds === null ? null : new Date(startAt.getTime() + run.ttl_seconds * 1000),
        updated_at: now,
      })
      .where("id", "=", run.id)
      .execute();
    await appendEvents(trx, [
      {
        environment_id: environment.id,
        batch_id: run.batch_id,
        run_id: run.id,
        type: "run.rescheduled",
        data: JSON.stringify({ delayUntil: startAt.toISOString() }),
      },
    ]);
  });
  notifyEvents(deps.bus, environment.id);
  return { id: input.runId };
}
