import { createTRPCClient, httpBatchLink, httpLink, splitLink } from "@trpc/client";
import type { AppRouter } from "../server/trpc/routers/_app.js";
import { dataTransformer } from "../shared/transformer.js";
import { sseSubscriptionLink } from "./sse-link.js";

/** What a worker sends on a request of its own: a batched request is answered when its slowest call is. */
const ALONE = new Set([
  // Long-polls: would hold back everything batched with it.
  "worker.dequeue",
  // Waits for its batches' row locks: would hold back a heartbeat, and the lease with it.
  "worker.report",
  // Keeps leases: must not wait for anything else.
  "worker.heartbeat",
]);

/**
 * A tRPC client for a worker: its claims, reports and heartbeats each travel alone (`httpLink`,
 * see ALONE); the presence stream is a subscription (Server-Sent Events); everything else is
 * batched.
 */
export function createWorkerTransport(url: string, apiKey: string) {
  const base = `${url.replace(/\/+$/, "")}/trpc`;
  const headers = () => ({ authorization: `Bearer ${apiKey}` });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: sseSubscriptionLink({ url: base, transformer: dataTransformer, headers }),
        false: splitLink({
          condition: (op) => ALONE.has(op.path),
          true: httpLink({ url: base, transformer: dataTransformer, headers }),
          false: httpBatchLink({ url: base, transformer: dataTransformer, headers, maxItems: 100 }),
        }),
      }),
    ],
  });
}
