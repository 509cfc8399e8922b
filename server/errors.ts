import { TRPCError } from "@trpc/server";

/** Errors the domain raises; tRPC carries them, and the REST layer maps them to status codes. */
export const badRequest = (message: string) => new TRPCError({ code: "BAD_REQUEST", message });
export const notFound = (message: string) => new TRPCError({ code: "NOT_FOUND", message });
export const unprocessable = (message: string) => new TRPCError({ code: "UNPROCESSABLE_CONTENT", message });
export const forbidden = (message: string) => new TRPCError({ code: "FORBIDDEN", message });
export const conflict = (message: string) => new TRPCError({ code: "CONFLICT", message });

/** A problem with one item of a list input; `position` is its place in that list. */
export class ItemInputError extends Error {
  constructor(
    readonly position: number,
    message: string,
  ) {
    super(message);
  }
}

export const badItem = (position: number, message: string) =>
  new TRPCError({ code: "BAD_REQUEST", message, cause: new ItemInputError(position, message) });

/**
 * What a caller is told about a server fault: nothing internal (no message, stack or path), only
 * the request id under which the fault was logged.
 */
export const internalErrorMessage = (requestId: string | undefined) =>
  requestId ? `Internal error (request id ${requestId})` : "Internal error";
