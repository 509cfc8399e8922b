import type { Credential } from "./api.js";

/** The tab's secret key: sessionStorage, so it goes when the tab closes and is never shared between tabs. */
const KEY = "salvo.secretKey";

/**
 * The credential this page starts with: a shared link's `#token=` wins over a key signed in
 * earlier; the fragment never reaches the server or its logs. Links inside a shared page keep the
 * fragment (see `linkFragment` in router.ts), so a reload of any page it leads to still works.
 */
export function initialCredential(): Credential | undefined {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  const batchId = /^\/dashboard\/batches\/([^/]+)/.exec(location.pathname)?.[1];
  if (token) return { kind: "token", token, ...(batchId ? { batchId: decodeURIComponent(batchId) } : {}) };
  const key = sessionStorage.getItem(KEY);
  return key ? { kind: "secret", key } : undefined;
}

export function rememberKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}
