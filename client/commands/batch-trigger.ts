/**
 * `salvo batch trigger <task> --file items.ndjson`: one run of <task> per line, through the
 * two-phase API (create the batch, then append the items in chunks), with a progress bar. A line is
 * `{"payload": …, "options": {…}}` when it is an object with a `payload` field, otherwise the
 * payload itself. The file is read twice (count, then send), never held in memory whole.
 * Prints the batch id; exit code 0 once the batch is sealed, 1 if it is not, 2 for usage errors.
 */
import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import { createInterface } from "node:readline";
import { describeFailure, oneLine } from "../errors.js";
import { createSalvoClient, type IndexedItem } from "../index.js";
import { ProgressLine } from "./progress.js";
import { CommandError, callerPath, EXIT, serverConnection } from "./settings.js";

/** Non-empty lines of the file with their 0-based item index and 1-based line number. */
async function* lines(path: string): AsyncGenerator<{ text: string; index: number; line: number }> {
  let index = 0;
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    line++;
    if (text.trim() === "") continue;
    yield { text, index: index++, line };
  }
}

function toItem(task: string, text: string, index: number, line: number): IndexedItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CommandError(`line ${line} is not valid JSON: ${oneLine(err)}`, EXIT.usage);
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value) && "payload" in value) {
    const { payload, options } = value as { payload: unknown; options?: IndexedItem["options"] };
    return { index, task, payload, ...(options ? { options } : {}) };
  }
  return { index, task, payload: value };
}

export async function trigger(task: string, options: { file: string; chunk: number }): Promise<number> {
  const conn = serverConnection();
  const file = callerPath(options.file);
  try {
    await access(file);
  } catch {
    throw new CommandError(`cannot read ${file}`, EXIT.usage);
  }
  // Pass 1: count and validate, so the batch is created with its exact runCount.
  let total = 0;
  for await (const { text, index, line } of lines(file)) {
    toItem(task, text, index, line);
    total++;
  }
  if (total === 0) throw new CommandError(`${file} has no items`, EXIT.usage);
  const client = createSalvoClient(conn);
  try {
    const batch = await client.batch.create.mutate({ runCount: total });
    const bar = new ProgressLine();
    let sent = 0;
    let sealed = false;
    let items: IndexedItem[] = [];
    const flush = async () => {
      const result = await client.batch.appendItems.mutate({ batchId: batch.id, items });
      sent += items.length;
      sealed = result.sealed;
      items = [];
      bar.update(sent, total, `items sent · ${batch.id}`, sent === total);
    };
    // Pass 2: stream in chunks; each chunk is written before the next is read (backpressure).
    for await (const { text, index, line } of lines(file)) {
      items.push(toItem(task, text, index, line));
      if (items.length === options.chunk) await flush();
    }
    if (items.length > 0) await flush();
    console.log(batch.id);
    if (!sealed) console.error(`${batch.id} is not sealed: the file changed while it was read?`);
    return sealed ? EXIT.ok : EXIT.failed;
  } catch (err) {
    throw new CommandError(describeFailure(err, conn.url), EXIT.usage);
  }
}
