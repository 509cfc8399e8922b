import { badRequest } from "../errors.js";
import { assertJsonTextDepth } from "../limits/json-depth.js";

export interface NdjsonLine {
  /** 1-based physical line number, as error messages name it. */
  lineNumber: number;
  value: unknown;
  /** Size of the line in bytes, so a consumer can bound what it holds by bytes, not only by lines. */
  bytes: number;
}

const NEWLINE = 0x0a;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Splits a byte stream into JSON values, one per line, without ever holding more than one line
 * plus one network chunk: the stream is pulled only as fast as the consumer asks for lines, which
 * is what gives the body backpressure. Blank lines are skipped, `\r\n` works, the last line needs
 * no newline. A line longer than `maxLineBytes`, invalid UTF-8 or invalid JSON is a 400 that names
 * the line.
 */
export async function* readNdjson(body: AsyncIterable<Uint8Array>, maxLineBytes: number): AsyncGenerator<NdjsonLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNumber = 0;

  const finishLine = (parts: Buffer[]): NdjsonLine | undefined => {
    lineNumber++;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (bytes.length > maxLineBytes) throw tooLarge(lineNumber, bytes.length, maxLineBytes);
    let text: string;
    try {
      text = utf8.decode(bytes).trim();
    } catch {
      throw badRequest(`Invalid UTF-8 at line ${lineNumber}`);
    }
    if (text === "") return undefined;
    assertJsonTextDepth(text, `The item at line ${lineNumber}`);
    try {
      return { lineNumber, value: JSON.parse(text), bytes: bytes.length };
    } catch (err) {
      throw badRequest(`Invalid JSON at line ${lineNumber}: ${(err as Error).message}`);
    }
  };

  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      pending.push(buf.subarray(start, nl));
      const line = finishLine(pending);
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
      if (line) yield line;
    }
    if (start < buf.length) {
      pending.push(buf.subarray(start));
      pendingBytes += buf.length - start;
      // Refuse an endless line as soon as it is too long, not when (if ever) it ends.
      if (pendingBytes > maxLineBytes) throw tooLarge(lineNumber + 1, pendingBytes, maxLineBytes, true);
    }
  }
  if (pending.length > 0) {
    const line = finishLine(pending);
    if (line) yield line;
  }
}

function tooLarge(lineNumber: number, bytes: number, max: number, atLeast = false) {
  return badRequest(
    `Item at line ${lineNumber} is ${atLeast ? "over " : ""}${bytes} bytes, larger than the maximum item size of ${max} bytes`,
  );
}
