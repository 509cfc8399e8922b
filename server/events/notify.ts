import type { Bus } from "../adapters/bus.js";

/**
 * The bus channel that wakes an environment's subscribers, in every server process. Idle workers
 * wait on the same wake-up: every change that can make a run claimable (runs queued, a slot freed,
 * a parent resumed, a queue resumed or its limit raised) calls `notifyEvents` after its commit.
 * One channel, one call after each commit.
 */
export const eventsChannel = (environmentId: string) => `salvo:events:${environmentId}`;

/**
 * Call once right after a transaction that appended events (`appendEvents`) has committed, with
 * the environment those events belong to, or after a change that writes no event but may make
 * runs claimable (a queue's limit raised):
 *
 *     const result = await db.transaction().execute(async (trx) => { ...; await appendEvents(trx, events) });
 *     notifyEvents(deps.bus, environment.id);
 *
 * It tells every server process's subscribers and idle workers of that environment to read now.
 * Never call it inside the transaction (a reader woken before the commit finds nothing and sleeps
 * until its slow poll). It does not wait and never throws: a wake-up carries no data, so a lost
 * one (Redis down) only delays readers until their fallback poll, and must never fail or slow the
 * write.
 */
export function notifyEvents(bus: Bus, environmentId: string): void {
  bus.publish(eventsChannel(environmentId), "1").catch(() => {});
}
