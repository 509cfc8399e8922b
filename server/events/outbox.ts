import type { Insertable, Transaction } from "kysely";
import type { Database, EventsTable } from "../../db/schema.js";

export type NewEvent = Insertable<EventsTable>;

const EVENT_SLICE = 5000;

/**
 * Appends state-change events in the caller's transaction, so an event exists exactly when the
 * change it describes was committed (invariant 6). Subscriptions read them back by id.
 */
export async function appendEvents(trx: Transaction<Database>, events: NewEvent[]): Promise<void> {
  for (let start = 0; start < events.length; start += EVENT_SLICE) {
    await trx
      .insertInto("events")
      .values(events.slice(start, start + EVENT_SLICE))
      .execute();
  }
}
