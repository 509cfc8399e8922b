/**
 * What the domain says when it refuses a request. It speaks no transport: the tRPC layer maps a
 * code to its TRPCError (server/trpc/errors.ts), and REST to the HTTP status of that code.
 */
export type DomainErrorCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "UNPROCESSABLE_CONTENT"
  | "TOO_MANY_REQUESTS";

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DomainError";
  }
}

export const badRequest = (message: string) => new DomainError("BAD_REQUEST", message);
export const notFound = (message: string) => new DomainError("NOT_FOUND", message);
export const unprocessable = (message: string) => new DomainError("UNPROCESSABLE_CONTENT", message);
export const forbidden = (message: string) => new DomainError("FORBIDDEN", message);
export const unauthorized = (message: string) => new DomainError("UNAUTHORIZED", message);

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
  new DomainError("BAD_REQUEST", message, { cause: new ItemInputError(position, message) });

/**
 * What a caller is told about a server fault: nothing internal (no message, stack or path), only
 * the request id under which the fault was logged.
 */
export const internalErrorMessage = (requestId: string | undefined) =>
  requestId ? `Internal error (request id ${requestId})` : "Internal error";
