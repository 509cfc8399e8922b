import { FINAL_RUN_STATUSES, type RunStatus } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { decodePacket } from "../packets/codec.js";
import { assertBatchOfEnvironment } from "./queries.js";

export interface ItemResult {
  index: number;
  taskIdentifier: string;
  /** Absent for an item that never became a run. */
  runId?: string;
  status?: RunStatus;
  /** True for a COMPLETED run. */
  ok: boolean;
  output?: unknown;
  error?: { message: string; name?: string; stackTrace?: string };
}

/** Each item's outcome in index order: the run's status and its output or error. */
export async function batchResults(
  deps: Deps,
  env: AuthenticatedEnvironment,
  batchId: string,
): Promise<{ id: string; items: ItemResult[] }> {
  await assertBatchOfEnvironment(deps.db, env, batchId);
  const rows = await deps.db
    .selectFrom("batch_items as i")
    .leftJoin("runs as r", "r.id", "i.run_id")
    .select([
      "i.batch_index",
      "i.task_identifier",
      "i.run_id",
      "i.error as item_error",
      "r.status",
      "r.output",
      "r.output_type",
      "r.error",
    ])
    .where("i.batch_id", "=", batchId)
    .orderBy("i.batch_index")
    .execute();
  return {
    id: batchId,
    items: rows.map((row) => {
      if (row.run_id === null) {
        return {
          index: row.batch_index,
          taskIdentifier: row.task_identifier,
          ok: false,
          error: { message: row.item_error ?? "Item did not become a run" },
        };
      }
      const status = row.status as RunStatus;
      const output = row.output_type !== null ? decodePacket({ data: row.output, type: row.output_type }) : undefined;
      const error =
        (row.error as ItemResult["error"] | null) ??
        (status !== "COMPLETED" && isFinal(status)
          ? { message: `Run ${status.toLowerCase()}`, name: status }
          : undefined);
      return {
        index: row.batch_index,
        taskIdentifier: row.task_identifier,
        runId: row.run_id,
        status,
        ok: status === "COMPLETED",
        ...(output !== undefined ? { output } : {}),
        ...(status !== "COMPLETED" && error ? { error } : {}),
      };
    }),
  };
}

const isFinal = (s: RunStatus) => FINAL_RUN_STATUSES.includes(s);
