/**
 * A log line as a person reads it in a terminal: `12:03:04.567 WARN  message  key=value …`, and an
 * error's stack below it. Only used when stdout is a TTY; anything else (a file, a pipe, a log
 * collector) gets pino's JSON lines unchanged.
 */
const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO ",
  40: "WARN ",
  45: "NOTE ",
  50: "ERROR",
  60: "FATAL",
};
const COLORS: Record<number, string> = { 40: "\x1b[33m", 45: "\x1b[36m", 50: "\x1b[31m", 60: "\x1b[31m" };
const RESET = "\x1b[0m";
/** Shown in the line's head already, or pino's own bookkeeping. */
const OMITTED = new Set(["level", "time", "msg", "pid", "hostname", "err"]);

export function prettyLine(json: string, color = true): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = Number(entry.level);
  const time = new Date(Number(entry.time)).toISOString().slice(11, 23);
  const name = LEVELS[level] ?? String(level).padEnd(5);
  const head = color && COLORS[level] ? `${COLORS[level]}${name}${RESET}` : name;
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  const err = entry.err as { stack?: string; message?: string } | undefined;
  const stack = err ? `\n    ${(err.stack ?? err.message ?? "").split("\n").join("\n    ")}` : "";
  return `${time} ${head} ${String(entry.msg ?? "")}${fields.length > 0 ? `  ${fields.join(" ")}` : ""}${stack}\n`;
}
