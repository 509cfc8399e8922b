import { type TrackedEnvelope, tracked } from "@trpc/server";
import type { Deps } from "../deps.js";
import { enrich, type LiveItem, type Needs } from "./enrich.js";
import { eventFeeds, type FeedListener } from "./feed.js";
import { comparePositions, encodePosition, type Position } from "./position.js";
import { type EventScope, readEvents } from "./read.js";

/** What one kind of subscription reads, and how it turns events into messages. */
export interface WatchSpec<M> {
  /**
   * Names how `message` builds: subscriptions of one name given the same feed items get the same
   * message object, so it is built and serialized once for all of them (see `sharedMessage`).
   */
  name: string;
  scope: EventScope;
  needs: Needs;
  /** Whether an event of the environment belongs to this subscription (the scope, plus filters). */
  match(item: LiveItem): boolean;
  /** One message for events that became readable together (in order, never empty). */
  message(items: LiveItem[]): M;
  /** The subscription ends after yielding this event (e.g. the batch became final). */
  isLast(item: LiveItem): boolean;
  /** Current state, sent first to a subscriber that is not resuming. */
  snapshot?: () => Promise<{ message: M; final: boolean }>;
}

/** A slow subscriber gets at most this many buffered events; past it, it re-reads from Postgres. */
const INBOX_LIMIT = 20_000;
const BACKLOG_PAGE = 1000;
/** Most events in one message. */
const GROUP = 250;

/** Buffers what the feed delivers for one subscriber until its generator takes it. */
class Inbox implements FeedListener {
  items: LiveItem[] = [];
  overflowed = false;
  #wake: (() => void) | undefined;
  constructor(
    readonly needs: Needs,
    private readonly match: (item: LiveItem) => boolean,
    private readonly signal: AbortSignal,
  ) {
    // One abort listener for the inbox's life rather than one per wait (a wait per message).
    signal.addEventListener("abort", () => this.#wake?.(), { once: true });
  }

  deliver(items: LiveItem[]): void {
    if (this.overflowed) return;
    const before = this.items.length;
    for (const item of items) if (this.match(item)) this.items.push(item);
    if (this.items.length > INBOX_LIMIT) {
      this.items = [];
      this.overflowed = true;
    }
    if (this.items.length !== before || this.overflowed) this.#wake?.();
  }

  /** Resolves when there is something to take, the inbox overflowed, or the signal aborted. */
  async wait(): Promise<void> {
    if (this.items.length > 0 || this.overflowed || this.signal.aborted) return;
    await new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
  }

  take(): LiveItem[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}

/**
 * The one loop behind every subscription: join the process's live feed first, then (unless
 * resuming) send the current state, then read what was missed from Postgres, then follow the feed,
 * skipping anything at or before the last position sent. Every message is `tracked` with its
 * event position, so a client resuming with it gets exactly the events after it.
 */
export async function* watchEvents<M>(
  deps: Deps,
  spec: WatchSpec<M>,
  after: Position | undefined,
  signal: AbortSignal,
): AsyncGenerator<TrackedEnvelope<M>, void, unknown> {
  const { environmentId } = spec.scope;
  const inbox = new Inbox(spec.needs, spec.match, signal);
  const { head, leave } = await eventFeeds(deps).join(environmentId, inbox);
  try {
    let cursor: Position;
    let finalAtStart = false;
    // A fresh subscriber starts at the feed's head: the state read now includes every event up to
    // it, and the feed hands over every event after it, so there is no backlog to read.
    let catchUp = after !== undefined;
    if (after === undefined) {
      cursor = head;
      if (spec.snapshot) {
        const first = await spec.snapshot();
        yield tracked(encodePosition(cursor), first.message);
        if (first.final) return;
      }
    } else {
      cursor = after;
      finalAtStart = spec.snapshot ? (await spec.snapshot()).final : false;
    }

    for (;;) {
      if (catchUp) {
        // Catch up from Postgres.
        let pending = false;
        for (let more = true; more && !signal.aborted; ) {
          const page = await readEvents(deps.db, spec.scope, cursor, BACKLOG_PAGE);
          const items =
            page.events.length > 0
              ? await enrich(deps.db, environmentId, page.events, spec.needs, deps.config.execution.unservedAfterMs)
              : [];
          for (const group of groups(items.filter(spec.match), spec.isLast)) {
            yield tracked(group.at(-1)!.id, spec.message(group));
            if (spec.isLast(group.at(-1)!)) return;
          }
          cursor = page.next;
          more = page.more;
          pending = page.pending;
        }
        // Resuming a subscription that had already ended, with nothing left to send.
        if (finalAtStart && !pending) return;
      }
      catchUp = true;

      // Follow the live feed.
      for (;;) {
        await inbox.wait();
        if (signal.aborted) return;
        if (inbox.overflowed) {
          // Fell too far behind: drop the buffer and read from Postgres again, from the cursor.
          inbox.items = [];
          inbox.overflowed = false;
          break;
        }
        const fresh = inbox.take().filter((item) => comparePositions(item.position, cursor) > 0);
        if (fresh.length === 0) continue;
        cursor = fresh.at(-1)!.position;
        for (const group of groups(fresh, spec.isLast)) {
          yield tracked(group.at(-1)!.id, sharedMessage(spec, group));
          if (spec.isLast(group.at(-1)!)) return;
        }
      }
    }
  } finally {
    leave();
  }
}

/**
 * The feed hands the same item objects to every subscriber of a process, so subscribers of one
 * batch mostly take identical groups: the last message built for a group is reused for a group
 * of the same items (compared by identity) and the same spec name. Keyed by the group's first
 * item, so it goes when the items do.
 */
const builtMessages = new WeakMap<LiveItem, Map<string, { items: LiveItem[]; message: unknown }>>();
function sharedMessage<M>(spec: WatchSpec<M>, group: LiveItem[]): M {
  let byName = builtMessages.get(group[0]!);
  const built = byName?.get(spec.name);
  if (built && built.items.length === group.length && built.items.every((item, i) => item === group[i]))
    return built.message as M;
  const message = spec.message(group);
  if (!byName) {
    byName = new Map();
    builtMessages.set(group[0]!, byName);
  }
  byName.set(spec.name, { items: group, message });
  return message;
}

/** Consecutive runs of at most GROUP items; a group ends at a last event (nothing after it is sent). */
function* groups(items: LiveItem[], isLast: (item: LiveItem) => boolean): Generator<LiveItem[]> {
  let group: LiveItem[] = [];
  for (const item of items) {
    group.push(item);
    if (isLast(item)) break;
    if (group.length === GROUP) {
      yield group;
      group = [];
    }
  }
  if (group.length > 0) yield group;
}
