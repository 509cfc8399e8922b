import { createTRPCClient, httpBatchLink, httpLink, splitLink } from "@trpc/client";
import type { AppRouter } from "../server/trpc/routers/_app.js";
import { dataTransformer } from "../shared/transformer.js";
import { sseSubscriptionLink } from "./sse-link.js";

/**
 * A tRPC client for a worker: the long-polling `worker.dequeue` travels alone (`httpLink`), so a
 * waiting dequeue never holds back the reports batched with it; the presence stream is a
 * subscription (Server-Sent Events); everything else is batched.
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
          condition: (op) => op.path === "worker.dequeue",
          true: httpLink({ url: base, transformer: dataTransformer, headers }),
          false: httpBatchLink({ url: base, transformer: dataTransformer, headers, maxItems: 100 }),
        }),
      }),
    ],
  });
}
