import { createTRPCClient, httpBatchLink } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "../server/trpc/routers/_app.js";

export type { AppRouter };
export * from "../shared/index.js";
export { AbortTaskRunError, createWorker, type TaskContext, type TaskHandler, type Worker, type WorkerOptions } from "./worker.js";

export interface SalvoClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:3030 (the router is served at /trpc). */
  url: string;
  /** An environment's secret key (tr_dev_…, tr_stg_…, tr_prod_…). */
  apiKey: string;
}

/** A typed client for Salvo's tRPC router: `client.batch.create.mutate({ runCount })` and so on. */
export function createSalvoClient(options: SalvoClientOptions) {
  const base = options.url.replace(/\/+$/, "");
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${base}/trpc`,
        transformer: superjson,
        headers: () => ({ authorization: `Bearer ${options.apiKey}` }),
      }),
    ],
  });
}

export type SalvoClient = ReturnType<typeof createSalvoClient>;
