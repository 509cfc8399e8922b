import type { Bus } from "../adapters/bus.js";

/** The bus channel that wakes an environment's subscribers, in every server process. */
export const eventsChannel = (environmentId: string) => `salvo:events:${environmentId}`;

/**
 * Call once right after a transaction that appended events (`appendEvents`) has committed, with
 * the environment those events belong to:
 *
 *     const result = await db.transaction().execute(async (trx) => { ...; await appendEvents(trx, events) });
 *     notifyEvents(deps.bus, environment.id);
 *
 * It tells every server process's subscribers of that environment to read the outbox now. Never
 * call it inside the transaction (a reader woken before the commit finds nothing and sleeps until
 * its slow poll). It does not wait and never throws: a wake-up carries no data, so a lost one (Redis
 * down) only delays readers until their fallback poll, and must never fail or slow the write.
 */
export function notifyEvents(bus: Bus, environmentId: string): void {
  bus.publish(eventsChannel(environmentId), "1").catch(() => {});
}
