import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { ZodError } from "zod";
import { RateLimitExceededError } from "../limits/batch-rate-limit.js";

/** Zod issues as one line a person can act on: `items[0].options.tags: at most 5 tags`. */
export function describeZodError(error: ZodError, prefix = ""): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === "number" ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        prefix,
      );
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

/** The message and status of any error, as REST shows it. */
export function toHttpError(err: unknown): { status: number; message: string } {
  if (err instanceof TRPCError) {
    const status = getHTTPStatusCodeFromError(err);
    if (err.cause instanceof ZodError) return { status, message: `Invalid request: ${describeZodError(err.cause)}` };
    if (status < 500) return { status, message: err.message };
  }
  if (err instanceof ZodError) return { status: 400, message: `Invalid request: ${describeZodError(err)}` };
  return { status: 500, message: "Internal Server Error" };
}

/**
 * Error bodies are `{"error": "..."}`: the SDK builds its error messages from that field only.
 * Server faults say `x-should-retry: false`, as Trigger.dev does, so the SDK fails fast instead
 * of retrying something that will not get better.
 */
export function sendError(reply: FastifyReply, err: unknown, log: FastifyBaseLogger) {
  const { status, message } = toHttpError(err);
  if (status >= 500) {
    log.error({ err }, "request failed");
    reply.header("x-should-retry", "false");
  }
  if (err instanceof TRPCError && err.cause instanceof RateLimitExceededError) reply.headers(err.cause.headers());
  return reply.status(status).send({ error: message });
}
