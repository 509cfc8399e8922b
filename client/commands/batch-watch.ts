/**
 * `salvo batch watch <batchId>`: a live progress bar (runs finished / total, failures, status)
 * that exits when the batch is final. Exit code 0 when every run succeeded, 1 when some failed or
 * the batch was aborted, 2 for usage or connection errors.
 */
import { pathToFileURL } from "node:url";
import { createSalvoClient, watchBatch } from "../index.js";
import { connection, errorMessage, ProgressLine } from "./progress.js";

export async function run(args: string[]): Promise<number> {
  const batchId = args.find((a) => !a.startsWith("-"));
  if (!batchId || args.includes("--help")) {
    console.error(
      "usage: salvo batch watch <batchId>\n  env: SALVO_URL (default http://127.0.0.1:3030), SALVO_API_KEY",
    );
    return 2;
  }
  const conn = connection();
  if ("error" in conn) {
    console.error(conn.error);
    return 2;
  }
  const client = createSalvoClient(conn);
  const bar = new ProgressLine();
  try {
    for await (const { message } of watchBatch(client, batchId)) {
      const b = message.batch;
      const failures = b.runs.failed + (b.failedRunCount ?? 0);
      bar.update(b.runs.finished, b.runCount, `runs done, ${failures} failed · ${b.status}`, b.final);
      if (b.final) {
        console.log(`${b.id} ${b.status}: ${b.runs.finished - b.runs.failed} succeeded, ${failures} failed`);
        return b.status === "COMPLETED" && failures === 0 ? 0 : 1;
      }
    }
    // The stream ended without a final state: the server went away.
    console.error(`the server closed the subscription before ${batchId} was final`);
    return 2;
  } catch (err) {
    console.error(`salvo batch watch: ${errorMessage(err)}`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
