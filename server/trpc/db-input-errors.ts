import { TRPCError } from "@trpc/server";

/**
 * Postgres refuses some text that is valid JSON and valid for every schema: a NUL character
 * (`\u0000`) in a text column or a jsonb value, or a lone surrogate. Those are the client's input,
 * not a server fault, so they become a 400 instead of a 500.
 */
const INPUT_SQLSTATES: Record<string, string> = {
  "22021": "text must not contain NUL (\\u0000) characters",
  "22P05": "text must not contain NUL (\\u0000) characters",
  "22P02": "a value has an invalid format",
  "54000": "a value is too large or too deeply nested to store",
};

/** The 400 a database error stands for, or undefined when it is a real server fault. */
export function inputErrorFromDatabase(err: unknown): TRPCError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !(code in INPUT_SQLSTATES)) return undefined;
  return new TRPCError({ code: "BAD_REQUEST", message: `Invalid request: ${INPUT_SQLSTATES[code]}`, cause: err });
}
