import { unauthorized } from "../errors.js";
import { looksLikeJwt } from "./tokens.js";

/**
 * The credential of a subscription that came without an Authorization header: a browser's
 * EventSource cannot send headers, so tRPC puts `connectionParams` in the URL instead
 * (`{ authorization: "Bearer …" }` or `{ token: "…" }`). URLs end up in logs, proxies and browser
 * history, so only a public access token (short-lived, read-only, scoped) is accepted there; a
 * secret key is refused and must be sent as a header. Queries and mutations never read
 * connectionParams at all: every client can send them a header.
 */
export function subscriptionAuthorization(params: Record<string, string | undefined> | null): string | undefined {
  if (!params) return undefined;
  const given =
    typeof params.authorization === "string"
      ? params.authorization
      : typeof params.token === "string"
        ? `Bearer ${params.token}`
        : undefined;
  if (given === undefined) return undefined;
  const token = /^Bearer\s+(.+)$/i.exec(given.trim())?.[1]?.trim() ?? "";
  if (!looksLikeJwt(token)) {
    throw unauthorized(
      "connectionParams may carry only a public access token (JWT): send a secret key as an Authorization header, never in a URL",
    );
  }
  return `Bearer ${token}`;
}
