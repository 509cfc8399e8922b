import { getTRPCErrorFromUnknown, TRPCError, type TrackedEnvelope, tracked } from "@trpc/server";
import type { ZodError } from "zod";
import { MAX_REPORTED_ISSUES } from "../../shared/bounded-array.js";
import { DomainError } from "../errors.js";
import type { WatchMessage } from "../events/watch-loop.js";

/**
 * A domain refusal as tRPC carries it: same code and message. The TRPCError's cause is the domain
 * error's own cause when it has one (the numbers of a rate limit, the position of a bad item), so
 * the error formatter and REST find them where they look.
 */
export function toTRPCError(err: DomainError): TRPCError {
  return new TRPCError({ code: err.code, message: err.message, cause: err.cause ?? err });
}

/** Any failure as tRPC answers it: a domain refusal with its code, anything else as tRPC maps it. */
export function asTRPCError(err: unknown): TRPCError {
  if (err instanceof DomainError) return toTRPCError(err);
  if (err instanceof TRPCError && err.cause instanceof DomainError) return toTRPCError(err.cause);
  return getTRPCErrorFromUnknown(err);
}

/**
 * A watch as a tRPC subscription: each message `tracked` with its event position (what a client
 * resumes from, as Last-Event-ID), and a refusal met while watching mapped like any other.
 */
export async function* trackedWatch<M>(
  watch: AsyncIterable<WatchMessage<M>>,
): AsyncGenerator<TrackedEnvelope<M>, void, unknown> {
  try {
    for await (const { id, message } of watch) yield tracked(id, message);
  } catch (err) {
    throw err instanceof DomainError ? toTRPCError(err) : err;
  }
}

/**
 * Zod issues as one line a person can act on: `items[0].options.tags: at most 5 tags`. At most
 * MAX_REPORTED_ISSUES of them, so an error answer stays small whatever the input.
 */
export function describeZodError(error: ZodError, prefix = ""): string {
  const more = error.issues.length - MAX_REPORTED_ISSUES;
  const shown = error.issues
    .slice(0, MAX_REPORTED_ISSUES)
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === "number" ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        prefix,
      );
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
  return more > 0 ? `${shown}; and ${more} more issue${more === 1 ? "" : "s"}` : shown;
}
