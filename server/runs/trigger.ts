import type { TaskItem, TriggerTaskResult } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { notifyEvents } from "../events/notify.js";
import { createRuns } from "./create.js";
import { prepareRun } from "./prepare.js";

/** A single run, outside any batch; a live idempotency key returns the existing run. */
export async function triggerTask({ db, bus }: Deps, environment: AuthenticatedEnvironment, item: TaskItem): Promise<TriggerTaskResult> {
  const result = await db.transaction().execute(async (trx) => {
    const prepared = prepareRun(item, { environmentId: environment.id, now: new Date(), triggerFunction: "trigger" });
    const [outcome] = await createRuns(trx, [prepared]);
    return { id: outcome!.runId, isCached: outcome!.isCached };
  });
  notifyEvents(bus, environment.id);
  return result;
}
