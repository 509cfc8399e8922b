/**
 * One progress line for the CLI: redrawn in place on a terminal, printed as plain lines (at most
 * one per `everyMs`, plus the final one) when output is piped, so logs stay readable.
 */
export class ProgressLine {
  #last = 0;
  #lastText = "";
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly everyMs = 1000,
  ) {}

  update(done: number, total: number, suffix: string, final = false): void {
    const width = 30;
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(ratio * width);
    const text = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${suffix}`;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${text}${final ? "\n" : ""}`);
      return;
    }
    const now = Date.now();
    if (text !== this.#lastText && (final || now - this.#last >= this.everyMs)) {
      this.out.write(`${text}\n`);
      this.#last = now;
      this.#lastText = text;
    }
  }
}
