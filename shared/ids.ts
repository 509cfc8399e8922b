import { randomBytes } from "node:crypto";

/** Trigger.dev's friendly-id alphabet: no 0, l, o (easily confused when read aloud). */
export const FRIENDLY_ALPHABET = "123456789abcdefghijkmnopqrstuvwxyz";
const ID_LENGTH = 21;
// Largest multiple of the alphabet size below 256: bytes at or above it are rejected so every
// character is equally likely (no modulo bias).
const UNBIASED_LIMIT = 256 - (256 % FRIENDLY_ALPHABET.length);

export type IdPrefix = "batch" | "run" | "env";

// Random bytes are drawn in blocks: one `randomBytes` call per id costs more than the id itself
// when a batch mints thousands of them.
const POOL_SIZE = 16 * 1024;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;

function randomByte(): number {
  if (poolOffset === POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}

/** Leading characters that encode the millisecond clock: 34^9 ms is about 1,900 years. */
const TIME_LENGTH = 9;

function timePart(ms: number): string {
  let out = "";
  for (let i = 0; i < TIME_LENGTH; i++) {
    out = FRIENDLY_ALPHABET[ms % FRIENDLY_ALPHABET.length] + out;
    ms = Math.floor(ms / FRIENDLY_ALPHABET.length);
  }
  return out;
}

/**
 * `<prefix>_` and 21 characters: the creation time (9, most significant first), then 12 random
 * ones (about 61 bits). The alphabet is in ascending code order, so ids sort by creation time:
 * a batch's thousands of new runs land on the rightmost pages of every index keyed by id instead
 * of on random pages all over it, which is what keeps bulk inserts (and the WAL they write) cheap
 * as the tables grow.
 */
export function friendlyId(prefix: IdPrefix): string {
  let out = timePart(Date.now());
  while (out.length < ID_LENGTH) {
    const byte = randomByte();
    if (byte >= UNBIASED_LIMIT) continue;
    out += FRIENDLY_ALPHABET[byte % FRIENDLY_ALPHABET.length];
  }
  return `${prefix}_${out}`;
}

const FRIENDLY_PATTERN = new RegExp(`^(batch|run|env)_[${FRIENDLY_ALPHABET}]{${ID_LENGTH}}$`);

export function isFriendlyId(value: string, prefix: IdPrefix): boolean {
  const m = FRIENDLY_PATTERN.exec(value);
  return m !== null && m[1] === prefix;
}
