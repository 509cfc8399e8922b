/** `salvo runs list|cancel|replay`: runs of the key's environment, over the tRPC router. */
import { describeFailure } from "../errors.js";
import { createSalvoClient, type RunStatus } from "../index.js";
import { CommandError, EXIT, serverConnection } from "./settings.js";

type Out = (line: string) => void;

/** Calls the server; a failure becomes one line, exit 2 when no server answered, else 1. */
async function call<T>(fn: (client: ReturnType<typeof createSalvoClient>) => Promise<T>): Promise<T> {
  const conn = serverConnection();
  try {
    return await fn(createSalvoClient(conn));
  } catch (err) {
    const line = describeFailure(err, conn.url);
    throw new CommandError(line, line.startsWith("cannot reach") ? EXIT.usage : EXIT.failed);
  }
}

export interface ListOptions {
  batch?: string;
  status?: RunStatus;
  task?: string;
  tag?: string;
  limit: number;
  cursor?: string;
}

/** One run per line (id, status, task, batch, attempts, created); the next page's cursor on stderr. */
export async function list(options: ListOptions, out: Out): Promise<number> {
  const page = await call((client) =>
    client.run.list.query({
      limit: options.limit,
      cursor: options.cursor,
      status: options.status,
      taskIdentifier: options.task,
      batchId: options.batch,
      tag: options.tag,
    }),
  );
  for (const run of page.items)
    out(
      [
        run.id,
        run.status,
        run.taskIdentifier,
        run.batchId ?? "-",
        `attempts ${run.attemptCount}`,
        run.createdAt.toISOString(),
      ].join("\t"),
    );
  if (page.items.length === 0) out("no runs");
  if (page.nextCursor) console.error(`more: add --cursor ${page.nextCursor}`);
  return EXIT.ok;
}

export async function cancel(runId: string, out: Out): Promise<number> {
  const result = await call((client) => client.run.cancel.mutate({ runId }));
  out(result.canceled ? `canceled ${runId}` : `${runId} was already finished: nothing to cancel`);
  return EXIT.ok;
}

/** A new run of the same task with the same payload (and options); prints its id. */
export async function replay(runId: string, out: Out): Promise<number> {
  const result = await call((client) => client.run.replay.mutate({ runId }));
  out(result.id);
  return EXIT.ok;
}
