/**
 * One progress line for the CLI: redrawn in place on a terminal, printed as plain lines (at most
 * one per `everyMs`, plus the final one) when output is piped, so logs stay readable.
 */
export class ProgressLine {
  #last = 0;
  #lastText = "";
  #pending: NodeJS.Timeout | undefined;
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
    clearTimeout(this.#pending);
    this.#pending = undefined;
    if (text === this.#lastText) return;
    const wait = this.everyMs - (Date.now() - this.#last);
    if (final || wait <= 0) {
      this.#print(text);
      return;
    }
    // Too soon for another line: print this state when the interval is over unless a newer one
    // comes first, so the last state before a quiet spell is never swallowed by the throttle.
    this.#pending = setTimeout(() => this.#print(text), wait);
    this.#pending.unref();
  }

  #print(text: string): void {
    this.out.write(`${text}\n`);
    this.#last = Date.now();
    this.#lastText = text;
  }
}
