import type { TaskItem, TriggerTaskResult } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { createRuns } from "./create.js";
import { assertStoredPacketsExist } from "./packets.js";
import { prepareRun } from "./prepare.js";

/** A single run, outside any batch; a live idempotency key returns the existing run. */
export async function triggerTask({ db }: Deps, environment: AuthenticatedEnvironment, item: TaskItem): Promise<TriggerTaskResult> {
  await assertStoredPacketsExist(db, environment.id, [item]);
  return db.transaction().execute(async (trx) => {
    const prepared = prepareRun(item, { environmentId: environment.id, now: new Date(), triggerFunction: "trigger" });
    const [outcome] = await createRuns(trx, [prepared]);
    return { id: outcome!.runId, isCached: outcome!.isCached };
  });
}
