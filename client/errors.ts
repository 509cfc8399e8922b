/**
 * Errors of the client as one line for people: a tRPC client error wraps the fetch failure, whose
 * cause names the system error (ECONNREFUSED…); a stack trace says nothing to someone whose server
 * is simply not running.
 */

/** System error codes meaning "no server answered at that address". */
const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ETIMEDOUT"]);

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 10; e = (e as { cause?: unknown }).cause)
    chain.push(e);
  return chain;
}

/** The system error code behind a failed request (e.g. ECONNREFUSED), if any. */
export function networkCode(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNREACHABLE.has(code)) return code;
    // AggregateError (several addresses tried): the first one's code.
    const inner = (e as { errors?: unknown[] }).errors?.[0];
    const innerCode = (inner as { code?: unknown } | undefined)?.code;
    if (typeof innerCode === "string" && UNREACHABLE.has(innerCode)) return innerCode;
  }
  // undici's own words when it has no code to give.
  return causes(err).some((e) => e instanceof Error && /fetch failed|socket hang up/.test(e.message))
    ? "no answer"
    : undefined;
}

/** True when the request failed because no server answered (as opposed to the server refusing it). */
export const isUnreachable = (err: unknown) => networkCode(err) !== undefined;

/** One line: what went wrong, without a stack. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0]!.trim() || (err instanceof Error ? err.name : "error");
}

/** The line to print for a failed call to the server at `url`, with a hint where one helps. */
export function describeFailure(err: unknown, url: string): string {
  const code = networkCode(err);
  if (code)
    return `cannot reach the Salvo server at ${url} (${code}): is it running? (set SALVO_URL to point elsewhere)`;
  const trpcCode = (err as { data?: { code?: string } }).data?.code;
  if (trpcCode === "UNAUTHORIZED") return `the server refused SALVO_API_KEY: ${oneLine(err)}`;
  return oneLine(err);
}
