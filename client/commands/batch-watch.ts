/**
 * `salvo batch watch <batchId>`: a live progress bar (runs finished / total, failures, status)
 * that exits when the batch is final. Exit code 0 when every run succeeded, 1 when some failed or
 * the batch was aborted, 2 when the server cannot be reached or refuses the request.
 */
import { describeFailure } from "../errors.js";
import { createSalvoClient, watchBatch } from "../index.js";
import { ProgressLine } from "./progress.js";
import { CommandError, EXIT, serverConnection } from "./settings.js";

export async function watch(batchId: string): Promise<number> {
  const conn = serverConnection();
  const client = createSalvoClient(conn);
  // One plain request first: an event stream retries an unreachable server for ever, so a wrong
  // SALVO_URL, a stopped server or an unknown batch is said at once instead.
  try {
    await client.batch.get.query({ batchId });
  } catch (err) {
    throw new CommandError(describeFailure(err, conn.url), EXIT.usage);
  }
  const bar = new ProgressLine();
  const said = new Set<string>();
  try {
    for await (const { message } of watchBatch(client, batchId)) {
      const b = message.batch;
      const failures = b.runs.failed + (b.failedRunCount ?? 0);
      // A task nobody serves is said once, on a line of its own, and stays in the bar while it lasts.
      for (const u of b.unserved ?? []) {
        if (said.has(u.task)) continue;
        said.add(u.task);
        console.error(
          `no worker serves task "${u.task}": ${u.queued} run(s) queued since ${u.since.toISOString()}; start one with \`salvo worker <module>\``,
        );
      }
      const unserved = b.unserved?.length ? ` · no worker for ${b.unserved.map((u) => u.task).join(", ")}` : "";
      bar.update(b.runs.finished, b.runCount, `runs done, ${failures} failed · ${b.status}${unserved}`, b.final);
      if (b.final) {
        console.log(`${b.id} ${b.status}: ${b.runs.finished - b.runs.failed} succeeded, ${failures} failed`);
        return b.status === "COMPLETED" && failures === 0 ? EXIT.ok : EXIT.failed;
      }
    }
  } catch (err) {
    throw new CommandError(describeFailure(err, conn.url), EXIT.usage);
  }
  // The stream ended without a final state: the server went away.
  throw new CommandError(`the server closed the subscription before ${batchId} was final`, EXIT.usage);
}
