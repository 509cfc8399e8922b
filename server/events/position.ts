/**
 * Where an event sits in the order subscriptions read: `(tx, id)` = the writing transaction's
 * xid8, then the event's serial id (see db/migrations/0003_events.ts for why not the id alone).
 * Clients see it as the opaque string `"<tx>:<id>"` (their tracked event id).
 */
export interface Position {
  tx: bigint;
  id: bigint;
}

export const START: Position = { tx: 0n, id: 0n };

export const encodePosition = (p: Position) => `${p.tx}:${p.id}`;

/** undefined when the text is not a position this server hands out. */
export function parsePosition(text: string): Position | undefined {
  const m = /^(\d{1,20}):(\d{1,20})$/.exec(text);
  if (!m) return undefined;
  const tx = BigInt(m[1]!);
  const id = BigInt(m[2]!);
  // Both are 64-bit in Postgres; anything larger cannot be a real position.
  if (tx >= 2n ** 64n || id >= 2n ** 63n) return undefined;
  return { tx, id };
}

export function comparePositions(a: Position, b: Position): number {
  if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

export const maxPosition = (a: Position, b: Position) => (comparePositions(a, b) >= 0 ? a : b);
