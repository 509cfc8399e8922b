import { useEffect, useRef, useState } from "react";

interface Handlers {
  onData(value: { id: string; data: unknown }): void;
  onError(error: unknown): void;
}

/**
 * Follows a tRPC subscription while the component is mounted (and `key` unchanged), handing each
 * message to `onMessage`. `start` is undefined while the subscription should not run yet.
 * The link reconnects by itself after a network failure, resuming after the last event.
 */
export function useSubscription<M>(
  key: string,
  start: ((handlers: Handlers) => { unsubscribe(): void }) | undefined,
  onMessage: (message: M) => void,
): { error: unknown } {
  const [error, setError] = useState<unknown>(undefined);
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const starter = useRef(start);
  starter.current = start;
  const enabled = start !== undefined;
  useEffect(() => {
    if (!enabled) return;
    setError(undefined);
    const subscription = starter.current!({
      onData: (value) => handler.current(value.data as M),
      onError: setError,
    });
    return () => subscription.unsubscribe();
  }, [key, enabled]);
  return { error };
}

/**
 * `fn`, called at most once per `ms` however often this is called (the last call is never lost):
 * refetching a page after live events, which may arrive many times a second on a busy batch.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const state = useRef<{ timer?: ReturnType<typeof setTimeout>; last: number }>({ last: 0 });
  useEffect(() => () => clearTimeout(state.current.timer), []);
  const call = useRef(() => {
    const s = state.current;
    if (s.timer !== undefined) return;
    const wait = Math.max(0, s.last + ms - Date.now());
    s.timer = setTimeout(() => {
      s.timer = undefined;
      s.last = Date.now();
      latest.current();
    }, wait);
  });
  return call.current;
}
