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
import { pathToFileURL } from "node:url";
import { createSalvoClient, type IndexedItem } from "../index.js";
import { connection, errorMessage, ProgressLine } from "./progress.js";

const CHUNK = 500;
const USAGE =
  "usage: salvo batch trigger <task> --file items.ndjson [--chunk 500]\n  env: SALVO_URL (default http://127.0.0.1:3030), SALVO_API_KEY";

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
    throw new Error(`line ${line} is not valid JSON: ${errorMessage(err)}`);
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value) && "payload" in value) {
    const { payload, options } = value as { payload: unknown; options?: IndexedItem["options"] };
    return { index, task, payload, ...(options ? { options } : {}) };
  }
  return { index, task, payload: value };
}

export async function run(args: string[]): Promise<number> {
  const fileAt = args.indexOf("--file");
  const file = fileAt === -1 ? undefined : args[fileAt + 1];
  const chunkAt = args.indexOf("--chunk");
  const chunk = chunkAt === -1 ? CHUNK : Number(args[chunkAt + 1]);
  const task = args.find((a, i) => !a.startsWith("-") && i !== fileAt + 1 && (chunkAt === -1 || i !== chunkAt + 1));
  if (!task || !file || !Number.isInteger(chunk) || chunk < 1) {
    console.error(USAGE);
    return 2;
  }
  const conn = connection();
  if ("error" in conn) {
    console.error(conn.error);
    return 2;
  }
  try {
    await access(file);
  } catch {
    console.error(`cannot read ${file}`);
    return 2;
  }
  const client = createSalvoClient(conn);
  try {
    // Pass 1: count and validate, so the batch is created with its exact runCount.
    let total = 0;
    for await (const { text, index, line } of lines(file)) {
      toItem(task, text, index, line);
      total++;
    }
    if (total === 0) {
      console.error(`${file} has no items`);
      return 2;
    }
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
      if (items.length === chunk) await flush();
    }
    if (items.length > 0) await flush();
    console.log(batch.id);
    if (!sealed) console.error(`${batch.id} is not sealed: the file changed while it was read?`);
    return sealed ? 0 : 1;
  } catch (err) {
    console.error(`salvo batch trigger: ${errorMessage(err)}`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
