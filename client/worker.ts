import { randomBytes } from "node:crypto";
import type { TaskItemInput } from "../shared/schemas.js";
import type { BatchResultItem, ClaimedRun } from "../shared/worker.js";
import { isUnreachable, networkCode, oneLine } from "./errors.js";
import { createWorkerTransport } from "./links.js";

/** What a handler learns about the run it executes. */
export type RunInfo = Omit<ClaimedRun, "payload" | "payloadType" | "leaseExpiresAt" | "claimId">;

export interface TaskContext {
  run: RunInfo;
  /** Aborted when the run is canceled, its lease is lost, or the worker stops without finishing it. */
  signal: AbortSignal;
  /**
   * Triggers a batch of `task` and waits for every run of it, returning their results in item
   * order. The run is parked (WAITING) meanwhile and queued again when the batch completes: the
   * handler then runs again from the top and this call returns the results at once. So code
   * before the call runs again on resume; keep it idempotent, and do not catch the error this
   * call throws to park the run.
   */
  batchTriggerAndWait(task: string, items: Array<Omit<TaskItemInput, "task">>): Promise<BatchResultItem[]>;
}

// biome-ignore lint/suspicious/noExplicitAny: the payload has the task's own type, which a handler declares and the worker cannot know; `unknown` would reject every handler that names its payload type.
export type TaskHandler = (payload: any, ctx: TaskContext) => unknown;

export interface WorkerOptions {
  url: string;
  apiKey: string;
  tasks: Record<string, TaskHandler>;
  /** Runs executed at once by this worker (default 10). */
  concurrency?: number;
  workerId?: string;
  /** How long one dequeue waits for work before asking again (default 10 s). */
  pollWaitMs?: number;
  /**
   * Called with every error. Default: one line on stderr per error, and a server that cannot be
   * reached said once when it is lost and once when it answers again (the worker retries with
   * back-off meanwhile, and waits for it at start).
   */
  onError?: (error: unknown) => void;
}

export interface Worker {
  readonly id: string;
  /**
   * Resolves once the worker has registered its tasks with the server (waiting for an unreachable
   * server); rejects if the server refuses (a bad key).
   */
  readonly ready: Promise<void>;
  /** Runs being executed right now. */
  readonly activeRuns: number;
  /**
   * Stops taking runs, waits up to `graceMs` (default 30 s) for running handlers to finish and
   * report, then gives the rest back to the queue (they are retried elsewhere, no attempt used).
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** Thrown by a handler to fail its run without further attempts. */
export class AbortTaskRunError extends Error {
  override name = "AbortTaskRunError";
}

/** Unwinds a handler whose run was parked by batchTriggerAndWait. */
class RunParked extends Error {
  constructor(readonly batchId: string) {
    super(`run parked until batch ${batchId} completes`);
  }
}

interface ActiveRun {
  runId: string;
  controller: AbortController;
  /** Set when the server no longer holds the run for us: its report would be ignored. */
  lost: boolean;
}

function runInfo({
  payload: _payload,
  payloadType: _type,
  leaseExpiresAt: _lease,
  claimId: _claim,
  ...info
}: ClaimedRun): RunInfo {
  return info;
}

type Completed = { runId: string; claimId: string; output?: unknown };
type Failed = { runId: string; claimId: string; error: ReturnType<typeof serializeError>; retry?: boolean };
type Outcome = ({ kind: "completed" } & Completed) | ({ kind: "failed" } & Failed);
interface PendingReport {
  completed: Completed[];
  failed: Failed[];
  settle: { resolve(): void; reject(e: unknown): void }[];
}

/**
 * Sends outcomes in reports of their own (`worker.report`), apart from the pull loop's claims: a
 * claim never waits for a report's transaction (which locks the finished runs' batch rows until
 * its commit), and the next claim goes out as soon as slots free, while their runs' outcomes are
 * still being recorded. One report is in flight at a time; outcomes that finish meanwhile are
 * gathered into the next, so a busy worker pays one transaction (one lock of each batch row) per
 * round trip, however many of its runs finish during it.
 */
class OutcomeReporter {
  /** The most outcomes of one kind a report carries (the server's bound on each list). */
  static readonly MAX_BATCH = 1000;
  /** Reports not sent yet, oldest first; only the last one takes new outcomes. */
  readonly #queue: PendingReport[] = [];
  #sending = false;
  #scheduled = false;

  constructor(private readonly send: (report: { completed: Completed[]; failed: Failed[] }) => Promise<unknown>) {}

  add(outcome: Outcome): Promise<void> {
    let report = this.#queue.at(-1);
    if (!report || report.settle.length >= OutcomeReporter.MAX_BATCH) {
      report = { completed: [], failed: [], settle: [] };
      this.#queue.push(report);
    }
    const { kind, ...rest } = outcome;
    if (kind === "completed") report.completed.push(rest as Completed);
    else report.failed.push(rest as Failed);
    const settled = new Promise<void>((resolve, reject) => report.settle.push({ resolve, reject }));
    this.#schedule();
    return settled;
  }

  /**
   * Starts sending on the next turn of the event loop, not at once: the runs of one claim that
   * finish together (in the same turn) share the first report.
   */
  #schedule() {
    if (this.#sending || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#pump();
    });
  }

  async #pump() {
    if (this.#sending) return;
    this.#sending = true;
    try {
      for (let report = this.#queue.shift(); report; report = this.#queue.shift()) await this.#deliver(report);
    } finally {
      this.#sending = false;
    }
  }

  async #deliver(report: PendingReport) {
    try {
      await this.send({ completed: report.completed, failed: report.failed });
      for (const s of report.settle) s.resolve();
    } catch (err) {
      for (const s of report.settle) s.reject(err);
    }
  }
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. The abort listener goes when the timer
 * fires: the worker's signals live as long as it does, and sleeps (heartbeats, back-offs) never end.
 */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/**
 * A report that fails in transit is sent again (a repeat after the run finished is simply not
 * accepted). Without this a network blip would leave the run to its lease and run it twice.
 */
async function withRetries<T>(send: () => Promise<T>, signal: AbortSignal, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      if (attempt >= attempts) throw err;
      await sleep(100 * 2 ** attempt, attempt > 2 ? signal : undefined);
    }
  }
}

/** The wait before the next try after `failures` failed ones in a row: 250 ms doubling to 10 s. */
const backoff = (failures: number) => Math.min(10_000, 250 * 2 ** Math.min(failures, 6));

/**
 * The default error report: one line per error, except a server that cannot be reached, which
 * is said once when lost and once when back (every loop of the worker retries meanwhile).
 */
class ServerWatch {
  #lost = false;
  constructor(
    private readonly url: string,
    private readonly log: (line: string) => void = (line) => console.error(line),
  ) {}

  failed = (err: unknown) => {
    if (!isUnreachable(err)) return this.log(`salvo worker: ${oneLine(err)}`);
    if (this.#lost) return;
    this.#lost = true;
    this.log(`salvo worker: cannot reach the server at ${this.url} (${networkCode(err)}); retrying with back-off`);
  };

  answered() {
    if (!this.#lost) return;
    this.#lost = false;
    this.log(`salvo worker: the server at ${this.url} answers again`);
  }
}

function serializeError(err: unknown) {
  if (err instanceof Error)
    return { name: err.name, message: err.message, ...(err.stack ? { stackTrace: err.stack } : {}) };
  return { name: "Error", message: typeof err === "string" ? err : (JSON.stringify(err) ?? String(err)) };
}

/**
 * A worker: registers the tasks it serves, pulls runs (several at once, long-polling when idle),
 * heartbeats while handlers run, and reports each outcome. Delivery is at least once: a run whose
 * lease expires (the worker died or stalled) is executed again elsewhere.
 */
export function createWorker(options: WorkerOptions): Worker {
  const client = createWorkerTransport(options.url, options.apiKey);
  const id = options.workerId ?? `worker_${randomBytes(8).toString("hex")}`;
  const tasks = Object.keys(options.tasks);
  const concurrency = options.concurrency ?? 10;
  const pollWaitMs = options.pollWaitMs ?? 10_000;
  const watch = new ServerWatch(options.url);
  const onError = options.onError ?? watch.failed;
  /**
   * Claims this worker holds (executing, or finished but not yet acknowledged), by claim id:
   * heartbeated. Not by run id: after a lost lease the same run can be claimed again here while
   * the earlier attempt's handler is still unwinding, and each attempt's bookkeeping is its own.
   */
  const active = new Map<string, ActiveRun>();
  /** Handlers executing now: what concurrency limits. */
  let running = 0;
  const reporter = new OutcomeReporter((outcomes) =>
    withRetries(() => client.worker.report.mutate({ workerId: id, ...outcomes }), stopping.signal),
  );
  const stopping = new AbortController();
  /** Aborted once the worker has stopped: ends its presence. */
  const leaving = new AbortController();
  let slotFreed: (() => void) | undefined;
  let leaseMs = 30_000;

  /** Registers, waiting out an unreachable server; a refusal (bad key, bad input) is final. */
  async function register() {
    for (let failures = 0; ; failures++) {
      try {
        leaseMs = (await client.worker.register.mutate({ workerId: id, tasks })).leaseMs;
        watch.answered();
        return;
      } catch (err) {
        if (!isUnreachable(err) || stopping.signal.aborted) throw err;
        onError(err);
        await sleep(backoff(failures), stopping.signal);
        if (stopping.signal.aborted) throw err;
      }
    }
  }
  const ready = register();

  async function execute(run: ClaimedRun) {
    const state: ActiveRun = { runId: run.id, controller: new AbortController(), lost: false };
    active.set(run.claimId, state);
    running++;
    let counted = true;
    let calls = 0;
    const ctx: TaskContext = {
      run: runInfo(run),
      signal: state.controller.signal,
      async batchTriggerAndWait(task, items) {
        // The same key on every execution of this run finds the same batch again after a resume.
        const idempotencyKey = `${run.id}:batchTriggerAndWait:${calls++}`;
        const batch = await client.batch.trigger.mutate({
          items: items.map((item) => ({ ...item, task })),
          parentRunId: run.id,
          resumeParentOnCompletion: true,
          idempotencyKey,
        });
        if (batch.isCached) {
          const { status } = await client.batch.get.query({ batchId: batch.batchId });
          if (status === "COMPLETED" || status === "ABORTED") {
            return (await client.batch.results.query({ batchId: batch.batchId })).items;
          }
        }
        throw new RunParked(batch.batchId);
      },
    };
    try {
      let outcome: { ok: true; output: unknown } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, output: await options.tasks[run.taskIdentifier]!(run.payload, ctx) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      if (state.lost || (!outcome.ok && outcome.error instanceof RunParked)) return;
      running--;
      slotFreed?.();
      counted = false;
      await reporter.add(
        outcome.ok
          ? { kind: "completed", runId: run.id, claimId: run.claimId, output: outcome.output }
          : {
              kind: "failed",
              runId: run.id,
              claimId: run.claimId,
              error: serializeError(outcome.error),
              ...(outcome.error instanceof AbortTaskRunError ? { retry: false } : {}),
            },
      );
    } catch (err) {
      onError(err);
    } finally {
      // Heartbeats cover a run until its outcome is acknowledged; its slot was freed earlier.
      active.delete(run.claimId);
      if (counted) {
        running--;
        slotFreed?.();
      }
    }
  }

  async function heartbeatLoop() {
    while (!stopping.signal.aborted) {
      await sleep(Math.max(50, Math.floor(leaseMs / 3)), stopping.signal);
      const claims = [...active.entries()].map(([claimId, state]) => ({ runId: state.runId, claimId }));
      if (claims.length === 0) continue;
      try {
        const { lostClaims } = await client.worker.heartbeat.mutate({ workerId: id, claims });
        for (const claimId of lostClaims) {
          const state = active.get(claimId);
          if (!state) continue;
          state.lost = true;
          state.controller.abort(new Error("run canceled or lease lost"));
        }
      } catch (err) {
        onError(err);
      }
    }
  }

  async function pullLoop() {
    await ready;
    let failures = 0;
    while (!stopping.signal.aborted) {
      const free = concurrency - running;
      if (free <= 0) {
        await new Promise<void>((resolve) => (slotFreed = resolve));
        slotFreed = undefined;
        continue;
      }
      // A signal of this call's own: tRPC leaves its abort listener on the signal it is given, so
      // the worker's long-lived one would gather one per dequeue (MaxListenersExceededWarning).
      const call = new AbortController();
      const abortCall = () => call.abort();
      stopping.signal.addEventListener("abort", abortCall, { once: true });
      // A claim only: outcomes go in reports of their own (OutcomeReporter), so this call never
      // waits for their transaction and may wait for work.
      const dequeued = client.worker.dequeue.mutate(
        { workerId: id, tasks, max: free, waitMs: pollWaitMs },
        { signal: call.signal },
      );
      try {
        const runs = await dequeued;
        failures = 0;
        watch.answered();
        for (const run of runs) void execute(run);
      } catch (err) {
        if (stopping.signal.aborted) break;
        onError(err);
        await sleep(backoff(failures++), stopping.signal);
      } finally {
        stopping.signal.removeEventListener("abort", abortCall);
      }
    }
  }

  /**
   * Holds the presence stream open while the worker runs: if this process dies, the server sees
   * the stream close and gives its runs to other workers within seconds, not at lease expiry.
   * The stream is re-opened whenever it ends (a server restarting, or going away gracefully),
   * and closed only once `stop` has finished or given back every run.
   */
  function stayPresent(): Promise<void> {
    const gone = leaving.signal;
    return new Promise<void>((done) => {
      let subscription: { unsubscribe(): void } | undefined;
      let failures = 0;
      const open = () => {
        if (gone.aborted) return done();
        subscription = client.worker.presence.subscribe(
          { workerId: id },
          {
            onStarted: () => {
              failures = 0;
            },
            onComplete: () => void sleep(250, gone).then(open),
            onError: (err) => {
              onError(err);
              void sleep(backoff(failures++), gone).then(open);
            },
          },
        );
      };
      gone.addEventListener(
        "abort",
        () => {
          subscription?.unsubscribe();
          done();
        },
        { once: true },
      );
      open();
    });
  }

  const loops = ready.then(() => Promise.all([pullLoop(), heartbeatLoop(), stayPresent()]));
  loops.catch(onError);

  return {
    id,
    ready,
    get activeRuns() {
      return active.size;
    },
    async stop({ graceMs = 30_000 } = {}) {
      stopping.abort();
      slotFreed?.();
      const deadline = Date.now() + graceMs;
      while (active.size > 0 && Date.now() < deadline) await sleep(25);
      const leftover = [...active.entries()];
      for (const [, state] of leftover) {
        state.lost = true;
        state.controller.abort(new Error("worker stopped"));
      }
      if (leftover.length > 0) {
        const claims = leftover.map(([claimId, state]) => ({ runId: state.runId, claimId }));
        await client.worker.release.mutate({ workerId: id, claims }).catch(onError);
      }
      leaving.abort();
      await loops.catch(() => {});
    },
  };
}
