import type { Bus } from "../adapters/bus.js";

/** The channel on which an environment's idle workers wait for runs. */
export const workChannel = (environmentId: string) => `salvo:work:${environmentId}`;

/**
 * Tells waiting workers that runs became available. Call after the commit that queued them.
 * Best effort: a worker that misses it finds the runs at the end of its bounded wait.
 */
export function wakeWorkers(bus: Bus, environmentId: string): void {
  bus.publish(workChannel(environmentId), "1").catch(() => {});
}
