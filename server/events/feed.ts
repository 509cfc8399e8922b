import type { Deps } from "../deps.js";
import { observeDeliveryLag } from "../observability/metrics.js";
import { enrich, type LiveItem, type Needs } from "./enrich.js";
import { eventsChannel } from "./notify.js";
import type { Position } from "./position.js";
import { START } from "./position.js";
import { currentHorizon, readEvents } from "./read.js";

/** A subscriber as the feed sees it: what it needs read, and where to put what arrives. */
export interface FeedListener {
  needs: Needs;
  deliver(items: LiveItem[]): void;
}

const PAGE = 1000;
/** Wait for a bus subscription this long before relying on the slow poll instead. */
const SUBSCRIBE_TIMEOUT_MS = 1000;

/**
 * One reader of one environment's events per server process, shared by all its subscribers there:
 * a wake-up costs one events query (plus one state query per kind) however many subscribers are
 * listening. It reads when the bus says something committed, and on a slow timer in case a wake-up
 * was lost (Redis down); reads never overlap, and wake-ups that arrive during a read cause exactly
 * one more read.
 */
class EnvironmentFeed {
  readonly listeners = new Set<FeedListener>();
  #head: Position = START;
  /** Every event up to here has been read (and handed to the listeners there were then). */
  get head(): Position {
    return this.#head;
  }
  #reading = false;
  #again = false;
  #closed = false;
  #busOk = false;
  #subscribing = false;
  #unsubscribe: (() => Promise<void>) | undefined;
  #poll: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #retryMs = 0;

  constructor(
    private readonly deps: Deps,
    private readonly environmentId: string,
  ) {}

  /** Listens first, then takes the horizon: nothing committed after it can be missed. */
  async start(): Promise<void> {
    await this.#subscribe();
    this.#head = await currentHorizon(this.deps.db);
    this.#poll = setInterval(() => {
      if (!this.#busOk && !this.#subscribing) void this.#subscribe();
      this.wake();
    }, this.deps.config.events.pollMs);
    this.#poll.unref();
  }

  /** One attempt at a time; until one succeeds, the poll is what keeps subscribers current. */
  async #subscribe(): Promise<void> {
    this.#subscribing = true;
    const subscribing = this.deps.bus.subscribe(eventsChannel(this.environmentId), () => this.wake());
    subscribing.then(
      (unsubscribe) => {
        this.#subscribing = false;
        if (this.#closed) void unsubscribe().catch(() => {});
        else {
          this.#unsubscribe = unsubscribe;
          this.#busOk = true;
        }
      },
      () => {
        this.#subscribing = false;
        this.#busOk = false;
      },
    );
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, SUBSCRIBE_TIMEOUT_MS).unref());
    await Promise.race([
      subscribing.then(
        () => {},
        () => {},
      ),
      timeout,
    ]);
  }

  wake(): void {
    if (this.#closed) return;
    if (this.#reading) this.#again = true;
    else void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#reading = true;
    try {
      let pending = false;
      do {
        this.#again = false;
        let more = true;
        while (more && !this.#closed) {
          const page = await readEvents(this.deps.db, { environmentId: this.environmentId }, this.#head, PAGE);
          if (page.events.length > 0 && this.listeners.size > 0) {
            const needs = { batches: false, runs: false };
            for (const l of this.listeners) {
              needs.batches ||= l.needs.batches;
              needs.runs ||= l.needs.runs;
            }
            const items = await enrich(
              this.deps.db,
              this.environmentId,
              page.events,
              needs,
              this.deps.config.execution.unservedAfterMs,
            );
            for (const l of this.listeners) l.deliver(items);
            observeDeliveryLag(page.events);
          }
          this.#head = page.next;
          more = page.more;
          pending = page.pending;
        }
      } while (this.#again && !this.#closed);
      // Committed events wait behind an older running transaction: look again soon, backing off.
      if (pending) this.#retrySoon();
      else this.#retryMs = 0;
    } catch (err) {
      if (!this.#closed) {
        this.deps.log.error({ err, environmentId: this.environmentId }, "event feed failed to read, retrying");
        this.#retrySoon();
      }
    } finally {
      this.#reading = false;
    }
  }

  #retrySoon(): void {
    if (this.#retry || this.#closed) return;
    this.#retryMs = Math.min(Math.max(this.#retryMs * 2, 10), 500);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.wake();
    }, this.#retryMs);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    clearTimeout(this.#retry);
    await this.#unsubscribe?.().catch(() => {});
  }
}

/** The feeds of one server process, one per environment that has subscribers, dropped when the last leaves. */
class EventFeeds {
  readonly #feeds = new Map<string, { feed: EnvironmentFeed; ready: Promise<void> }>();
  constructor(private readonly deps: Deps) {}

  /**
   * Resolves once the listener is receiving: every event after the returned `head` reaches it,
   * and state read after this resolves includes every event up to `head`.
   */
  async join(environmentId: string, listener: FeedListener): Promise<{ head: Position; leave: () => void }> {
    let entry = this.#feeds.get(environmentId);
    if (!entry) {
      const feed = new EnvironmentFeed(this.deps, environmentId);
      entry = { feed, ready: feed.start() };
      this.#feeds.set(environmentId, entry);
    }
    entry.feed.listeners.add(listener);
    const { feed, ready } = entry;
    const leave = () => {
      feed.listeners.delete(listener);
      if (feed.listeners.size === 0 && this.#feeds.get(environmentId)?.feed === feed) {
        this.#feeds.delete(environmentId);
        void feed.close();
      }
    };
    try {
      await ready;
    } catch (err) {
      leave();
      throw err;
    }
    return { head: feed.head, leave };
  }
}

const registry = new WeakMap<Deps, EventFeeds>();

/** This process's event feeds (one registry per running server). */
export function eventFeeds(deps: Deps): EventFeeds {
  let feeds = registry.get(deps);
  if (!feeds) {
    feeds = new EventFeeds(deps);
    registry.set(deps, feeds);
  }
  return feeds;
}
