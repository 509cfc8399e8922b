import { timingSafeEqual } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";
import type { KeyVault } from "../auth/vault.js";

/**
 * What a signed URL opens: a stored packet by path, or the payload/output of a run (whatever
 * form it is stored in). Always within one environment.
 */
export type PacketTarget =
  | { kind: "packet"; path: string }
  | { kind: "run"; runId: string; field: "payload" | "output" };

export interface PacketGrant {
  environmentId: string;
  /** The secret key that asked for the URL (or signed the public token that did): revoking it ends the URL. */
  keyId: string;
  method: "GET" | "PUT";
  /** Unix seconds. */
  expiresAt: number;
  target: PacketTarget;
}

const PURPOSE = "packet-url";

/**
 * A presigned URL needs no Authorization header (the SDK sends none on the upload PUT, and
 * fetches read URLs with a bare `fetch`), so the grant travels in the URL itself: the grant as
 * base64url JSON, a dot, and an HMAC of it under a key derived from the server's master secret.
 */
export function signPacketToken(vault: KeyVault, grant: PacketGrant): string {
  const body = Buffer.from(JSON.stringify(grant)).toString("base64url");
  return `${body}.${vault.mac(PURPOSE, body).toString("base64url")}`;
}

export type GrantCheck = { ok: true; grant: PacketGrant } | { ok: false; reason: string };

/** Checks a token's signature, expiry and method (not whether its key is still live: see `keyIsLive`). */
export function verifyPacketToken(vault: KeyVault, token: string, method: "GET" | "PUT", now = Date.now()): GrantCheck {
  const [body, signature, extra] = token.split(".");
  if (!body || !signature || extra !== undefined) return { ok: false, reason: "Malformed packet URL" };
  const expected = vault.mac(PURPOSE, body);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: "Packet URL signature does not match" };
  }
  const grant = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as PacketGrant;
  if (grant.expiresAt * 1000 <= now) return { ok: false, reason: "Packet URL has expired; ask for a new one" };
  if (grant.method !== method) return { ok: false, reason: `This packet URL is for ${grant.method}, not ${method}` };
  if (typeof grant.keyId !== "string") return { ok: false, reason: "Packet URL signature does not match" };
  return { ok: true, grant };
}

/** Whether the key a grant was issued to is still a live key of its environment. */
export async function keyIsLive(db: Kysely<Database>, grant: PacketGrant): Promise<boolean> {
  const row = await db
    .selectFrom("api_keys")
    .select("id")
    .where("id", "=", grant.keyId)
    .where("environment_id", "=", grant.environmentId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return row !== undefined;
}
