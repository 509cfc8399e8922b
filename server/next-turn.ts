/**
 * Resolves on the event loop's next turn, after pending I/O callbacks: long CPU work on a hot path
 * awaits it between slices so that the database answers other work waits for get through.
 */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
