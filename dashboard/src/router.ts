import { type MouseEvent, useSyncExternalStore } from "react";

/** The dashboard's pages, by path under /dashboard. The server answers every such path with the app. */
export type Route =
  | { page: "batches" }
  | { page: "batch"; batchId: string }
  | { page: "run"; runId: string }
  | { page: "queues" }
  | { page: "missing" };

export function parseRoute(pathname: string): Route {
  const path = pathname.replace(/^\/dashboard/, "").replace(/\/+$/, "");
  if (path === "" || path === "/batches") return { page: "batches" };
  if (path === "/queues") return { page: "queues" };
  const batch = /^\/batches\/([^/]+)$/.exec(path);
  if (batch) return { page: "batch", batchId: decodeURIComponent(batch[1]!) };
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return { page: "run", runId: decodeURIComponent(run[1]!) };
  return { page: "missing" };
}

const listeners = new Set<() => void>();
const subscribe = (listener: () => void) => {
  listeners.add(listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("popstate", listener);
  };
};

/** The current location (path and fragment), re-rendering on navigation. */
export function useLocation(): string {
  return useSyncExternalStore(subscribe, () => location.pathname + location.hash);
}

export function navigate(to: string): void {
  history.pushState(null, "", to);
  for (const listener of listeners) listener();
  window.scrollTo(0, 0);
}

/** An ordinary link (open in a new tab works) that navigates in place on a plain click. */
export function followLink(event: MouseEvent<HTMLAnchorElement>): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(event.currentTarget.getAttribute("href")!);
}

/** Appended to every link of the app: a shared link's `#token=…`, so the pages it leads to can be reloaded. */
let fragment = "";
export function setLinkFragment(value: string): void {
  fragment = value;
}
export const withFragment = (to: string) => (to.includes("#") ? to : to + fragment);

export const paths = {
  batches: () => "/dashboard/batches",
  batch: (id: string) => `/dashboard/batches/${encodeURIComponent(id)}`,
  run: (id: string) => `/dashboard/runs/${encodeURIComponent(id)}`,
  queues: () => "/dashboard/queues",
};
