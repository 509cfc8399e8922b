import { createTRPCClient, httpBatchLink, splitLink } from "@trpc/client";
import type { AppRouter } from "../server/trpc/routers/_app.js";
import type { BatchWatchMessage, RunWatchMessage } from "../shared/index.js";
import { dataTransformer } from "../shared/transformer.js";
import { sseSubscriptionLink } from "./sse-link.js";

export * from "../shared/index.js";
export {
  AbortTaskRunError,
  createWorker,
  type TaskContext,
  type TaskHandler,
  type Worker,
  type WorkerOptions,
} from "./worker.js";
export type { AppRouter };

export interface SalvoClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:3030 (the router is served at /trpc). */
  url: string;
  /**
   * An environment's secret key (tr_dev_…, tr_stg_…, tr_prod_…), or a public access token (the
   * JWT a batch answer returns in `x-trigger-jwt`), which can only watch what its scopes allow.
   */
  apiKey: string;
}

/**
 * A typed client for Salvo's tRPC router: `client.batch.create.mutate({ runCount })` and so on.
 * Subscriptions (`batch.watch`, `run.watch`, ...) go over Server-Sent Events; the key travels only
 * as an `Authorization` header (through `sseSubscriptionLink` and `NodeEventSource`, since Node has no EventSource), never
 * in a URL. (A browser's native EventSource cannot send headers: it passes a public access token
 * as tRPC `connectionParams`, the one place the server reads a credential from a URL.)
 */
export function createSalvoClient(options: SalvoClientOptions) {
  const base = options.url.replace(/\/+$/, "");
  const authorization = `Bearer ${options.apiKey}`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: sseSubscriptionLink({
          url: `${base}/trpc`,
          transformer: dataTransformer,
          headers: () => ({ authorization }),
        }),
        false: httpBatchLink({
          url: `${base}/trpc`,
          transformer: dataTransformer,
          headers: () => ({ authorization }),
        }),
      }),
    ],
  });
}

export type SalvoClient = ReturnType<typeof createSalvoClient>;

/** A message of a watch subscription with its event id (pass it as `lastEventId` to resume after it). */
export interface Watched<M> {
  id: string;
  message: M;
}

export interface WatchOptions {
  /** Resume right after this event id (no snapshot is sent then). */
  lastEventId?: string;
  signal?: AbortSignal;
}

/**
 * `for await (const { message } of watchBatch(client, batchId))`: the batch's progress, then every
 * change, ending when the batch is final (or when `signal` aborts). Errors (not found, forbidden)
 * are thrown from the loop.
 */
export function watchBatch(client: SalvoClient, batchId: string, options: WatchOptions = {}) {
  return iterate<BatchWatchMessage>(
    (handlers) => client.batch.watch.subscribe({ batchId, lastEventId: options.lastEventId }, handlers),
    options.signal,
  );
}

/** Like `watchBatch`, for one run. */
export function watchRun(client: SalvoClient, runId: string, options: WatchOptions = {}) {
  return iterate<RunWatchMessage>(
    (handlers) => client.run.watch.subscribe({ runId, lastEventId: options.lastEventId }, handlers),
    options.signal,
  );
}

interface Handlers {
  onData(value: { id: string; data: unknown }): void;
  onError(err: unknown): void;
  onComplete(): void;
}

/** Turns tRPC's callback subscription into an async iterator, buffering what arrives between pulls. */
async function* iterate<M>(
  start: (handlers: Handlers) => { unsubscribe(): void },
  signal?: AbortSignal,
): AsyncGenerator<Watched<M>> {
  const queue: Watched<M>[] = [];
  let done = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const subscription = start({
    onData: (value) => {
      queue.push({ id: value.id, message: value.data as M });
      notify();
    },
    onError: (error) => {
      failure = { error };
      notify();
    },
    onComplete: () => {
      done = true;
      notify();
    },
  });
  const abort = () => {
    done = true;
    notify();
  };
  signal?.addEventListener("abort", abort);
  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (failure) throw failure.error;
      if (done || signal?.aborted) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal?.removeEventListener("abort", abort);
    subscription.unsubscribe();
  }
}
