import { forbidden } from "../errors.js";
import type { Caller } from "./authenticate.js";

/** What a read touches: a batch, or a run (with what a scope may name about it). */
export type ReadTarget =
  | { kind: "batch"; batchId: string }
  | { kind: "run"; runId: string; taskIdentifier: string; tags: string[]; batchId?: string };

/**
 * Public-token scopes as Trigger.dev writes them, `action:type[:id]`: `read:runs:<id>`,
 * `read:batch:<id>` (the batch and its runs), `read:tasks:<task>`, `read:tags:<tag>`; a scope
 * without an id covers every resource of its type; `read:all` and `admin` cover everything.
 * Secret keys may read anything in their environment.
 */
export function canRead(caller: Caller, target: ReadTarget): boolean {
  if (caller.kind === "secret") return true;
  const granted = new Set(caller.scopes);
  if (granted.has("admin") || granted.has("read:all")) return true;
  const any = (type: string, ids: (string | undefined)[]) =>
    granted.has(`read:${type}`) || ids.some((id) => id !== undefined && granted.has(`read:${type}:${id}`));
  if (target.kind === "batch") return any("batch", [target.batchId]) || granted.has("read:runs");
  return (
    any("runs", [target.runId]) ||
    any("tasks", [target.taskIdentifier]) ||
    any("tags", target.tags) ||
    (target.batchId !== undefined && any("batch", [target.batchId]))
  );
}

/** `canRead`, or a 403 saying which scope would have allowed the read. */
export function assertCanRead(caller: Caller, target: ReadTarget): void {
  if (canRead(caller, target)) return;
  const [what, scope] =
    target.kind === "batch"
      ? [`batch ${target.batchId}`, `read:batch:${target.batchId}`]
      : [`run ${target.runId}`, `read:runs:${target.runId}`];
  throw forbidden(`This public access token may not read ${what}: it needs a scope such as ${scope}`);
}
