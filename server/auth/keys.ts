import { createHash, randomInt, timingSafeEqual } from "node:crypto";
import type { EnvironmentType } from "../../db/schema.js";

const KEY_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const KEY_BODY_LENGTH = 24;

/** Key prefixes by environment type, as Trigger.dev spells them. */
export const KEY_PREFIX: Record<EnvironmentType, string> = {
  dev: "tr_dev_",
  staging: "tr_stg_",
  prod: "tr_prod_",
  preview: "tr_preview_",
};

export function generateSecretKey(type: EnvironmentType): string {
  let body = "";
  for (let i = 0; i < KEY_BODY_LENGTH; i++) body += KEY_ALPHABET[randomInt(KEY_ALPHABET.length)];
  return KEY_PREFIX[type] + body;
}

/** The environment type a key's prefix names, or undefined for anything that is not a secret key. */
export function environmentTypeOfKey(key: string): EnvironmentType | undefined {
  for (const [type, prefix] of Object.entries(KEY_PREFIX) as [EnvironmentType, string][]) {
    if (key.startsWith(prefix)) return type;
  }
  return undefined;
}

export function hashSecretKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, "hex");
  const b = Buffer.from(bHex, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** What listings show of a key: enough to tell keys apart, too little to use one. */
export function displayPrefix(key: string): string {
  const typePrefix = KEY_PREFIX[environmentTypeOfKey(key) ?? "dev"];
  return `${key.slice(0, typePrefix.length + 4)}…`;
}
