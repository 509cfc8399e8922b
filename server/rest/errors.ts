import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { ZodError } from "zod";
import { isTransientDbError } from "../../db/errors.js";
import { DomainError, internalErrorMessage } from "../errors.js";
import { RateLimitExceededError } from "../limits/batch-rate-limit.js";
import { describeZodError, toTRPCError } from "../trpc/errors.js";

/** The message and status of any error, as REST shows it; a server fault names only the request id. */
export function toHttpError(failure: unknown, requestId?: string): { status: number; message: string } {
  const err = failure instanceof DomainError ? toTRPCError(failure) : failure;
  if (err instanceof TRPCError) {
    const status = getHTTPStatusCodeFromError(err);
    if (err.cause instanceof ZodError) return { status, message: `Invalid request: ${describeZodError(err.cause)}` };
    if (status < 500) return { status, message: err.message };
  }
  if (err instanceof ZodError) return { status: 400, message: `Invalid request: ${describeZodError(err)}` };
  if (isTransientDbError(err))
    return { status: 503, message: "The database is unavailable for a moment; retry the request" };
  return { status: 500, message: internalErrorMessage(requestId) };
}

/**
 * `x-should-retry` for a failure: the SDK obeys it before any rule of its own. Only a 503 (a
 * transient database failure) is worth retrying; a 500 will not get better, and neither will a
 * 4xx the caller has to fix. 408, 409 and 429 are left to the client's own rules (it retries
 * them, with the rate-limit headers for 429).
 */
export function shouldRetryHeader(status: number): "true" | "false" | undefined {
  if (status === 503) return "true";
  if (status === 408 || status === 409 || status === 429) return undefined;
  return status >= 400 ? "false" : undefined;
}

/**
 * Every error body is `{"error": "...", "message": "..."}` with the same text in both: the SDK
 * builds its error messages from `error` only, while the seeds' v3 documents declare `{message}`.
 */
export function errorBody(message: string) {
  return { error: message, message };
}

export function sendError(reply: FastifyReply, failure: unknown, log: FastifyBaseLogger) {
  const err = failure instanceof DomainError ? toTRPCError(failure) : failure;
  const { status, message } = toHttpError(err, reply.request.id);
  if (status >= 500) log.error({ err }, "request failed");
  const retry = shouldRetryHeader(status);
  if (retry) reply.header("x-should-retry", retry);
  if (err instanceof TRPCError && err.cause instanceof RateLimitExceededError) reply.headers(err.cause.headers());
  return reply.status(status).send(errorBody(message));
}
