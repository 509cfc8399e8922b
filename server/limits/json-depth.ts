import { badRequest } from "../errors.js";

/**
 * The deepest nesting of arrays and objects accepted in any JSON a client sends: request bodies,
 * NDJSON items, tRPC input, payloads sent as JSON text. Deeper values overflow the stack of
 * recursive code downstream (JSON.stringify, SuperJSON, Postgres' jsonb), so they are refused at
 * the door with a 400. Both checks below are loops, never recursion, so any depth is safe to check.
 */
export const MAX_JSON_DEPTH = 128;

const tooDeep = (what: string) => badRequest(`${what} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);

/** Throws a 400 when JSON text nests deeper than the limit: a scan of the text, before (and instead of) parsing it. */
export function assertJsonTextDepth(text: string, what: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw tooDeep(what);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** Throws a 400 when an already parsed value nests arrays and objects deeper than the limit. */
export function assertValueDepth(value: unknown, what: string): void {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth + 1 > MAX_JSON_DEPTH) throw tooDeep(what);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
}
