import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "../../server/trpc/routers/_app.js";
import { dataTransformer } from "../../shared/transformer.js";
import { FetchEventSource } from "./event-source.js";

/**
 * How this tab is signed in: an environment's secret key (typed into the form, kept in the tab's
 * sessionStorage), or the public access token of one batch (from a shared link's `#token=`).
 */
export type Credential = { kind: "secret"; key: string } | { kind: "token"; token: string; batchId?: string };

/**
 * The typed tRPC client every page uses: the same router and procedures as any other client.
 * The credential always travels as the Authorization header, for subscriptions too (see
 * event-source.ts), never in a URL.
 */
export function createApi(credential: Credential) {
  const url = `${location.origin}/trpc`;
  const authorization = `Bearer ${credential.kind === "secret" ? credential.key : credential.token}`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url,
          transformer: dataTransformer,
          EventSource: FetchEventSource,
          eventSourceOptions: () => ({ headers: { authorization } }),
        }),
        false: httpBatchLink({ url, transformer: dataTransformer, headers: () => ({ authorization }) }),
      }),
    ],
  });
}

export type Api = ReturnType<typeof createApi>;

/** The HTTP status of a failed call (401, 403, 404...), when the server answered one. */
export function statusOf(error: unknown): number | undefined {
  if (!(error instanceof TRPCClientError)) return undefined;
  const status = (error.data as { httpStatus?: unknown } | undefined)?.httpStatus;
  return typeof status === "number" ? status : undefined;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
