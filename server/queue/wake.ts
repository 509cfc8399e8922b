import type { Bus } from "../adapters/bus.js";
import { eventsChannel, notifyEvents } from "../events/notify.js";

/**
 * Idle workers wait on the same wake-up as subscribers: every change that can make a run
 * claimable (runs queued, a slot freed, a parent resumed, a queue resumed) writes events, and the
 * commit that wrote them calls `notifyEvents`. One channel, one call after each commit.
 */
export const workChannel = eventsChannel;

/** For changes that write no event but may make runs claimable (a queue's limit raised). */
export function wakeWorkers(bus: Bus, environmentId: string): void {
  notifyEvents(bus, environmentId);
}
