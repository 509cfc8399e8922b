import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import type { BatchProgress, BatchWatchMessage } from "../../../shared/live.js";
import { FINAL_RUN_STATUSES, RUN_STATUSES } from "../../../shared/statuses.js";
import { type Api, messageOf, statusOf } from "../api.js";
import { Alert, Link, Pager, ProgressBar, Status } from "../components.js";
import { dateTime, duration, progressOf } from "../format.js";
import { useSubscription, useThrottled } from "../live.js";
import { paths } from "../router.js";

const PAGE_SIZE = 25;

/**
 * One batch: what it is, its progress and counts by run status (live, from `batch.watch`), its
 * item errors, and its runs in item order a page at a time (`batch.runs`): never all of them.
 * The visible page is read again when an event names one of its runs.
 */
export function BatchPage({ api, batchId, canWrite }: { api: Api; batchId: string; canWrite: boolean }) {
  const queryClient = useQueryClient();
  const summary = useQuery({
    queryKey: ["batch.summary", batchId],
    queryFn: () => api.batch.summary.query({ batchId, errorLimit: 20 }),
    retry: (count, error) => statusOf(error) === undefined && count < 3,
  });
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const runs = useQuery({
    queryKey: ["batch.runs", batchId, cursor],
    queryFn: () => api.batch.runs.query({ batchId, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) }),
    placeholderData: keepPreviousData,
    enabled: summary.isSuccess,
  });
  const visible = useRef(new Set<string>());
  visible.current = new Set(runs.data?.items.map((r) => r.id));

  const [progress, setProgress] = useState<BatchProgress | undefined>();
  const refetchRuns = useThrottled(() => void runs.refetch(), 500);
  const refetchSummary = useThrottled(() => void summary.refetch(), 1000);
  const { error: liveError } = useSubscription<BatchWatchMessage>(
    `batch.watch:${batchId}`,
    summary.isSuccess ? (handlers) => api.batch.watch.subscribe({ batchId }, handlers) : undefined,
    (message) => {
      setProgress(message.batch);
      if (message.kind === "snapshot") return;
      // A status change matters where it shows; new runs (items still arriving) on a page not yet full.
      const roomLeft = visible.current.size < PAGE_SIZE;
      if (message.events.some((e) => (e.runId ? visible.current.has(e.runId) : roomLeft && e.type === "runs.created")))
        refetchRuns();
      if (message.events.some((e) => e.type.startsWith("batch."))) refetchSummary();
    },
  );

  const cancelBatch = useMutation({
    mutationFn: () => api.batch.cancel.mutate({ batchId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["batch.summary", batchId] }),
  });
  const cancelRun = useMutation({
    mutationFn: (runId: string) => api.run.cancel.mutate({ runId }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["batch.runs", batchId] }),
  });

  if (summary.error) {
    const status = statusOf(summary.error);
    return (
      <main>
        <h1>Batch {batchId}</h1>
        <Alert>
          {status === 403 || status === 401
            ? `This link or key does not give access to batch ${batchId}.`
            : status === 404
              ? `Batch ${batchId} was not found.`
              : `Could not read batch ${batchId}: ${messageOf(summary.error)}`}
        </Alert>
      </main>
    );
  }
  const batch = summary.data;
  if (!batch) return <main aria-busy="true">Loading batch {batchId}…</main>;
  const status = progress?.status ?? batch.status;
  const final = status === "COMPLETED" || status === "ABORTED";
  const { finished, total } = progressOf(batch, progress);
  const byStatus = progress?.runs.byStatus ?? {};

  return (
    <main>
      <h1>
        Batch <span className="id">{batch.id}</span>
      </h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <Status value={status} />
        </dd>
        <dt>Idempotency key</dt>
        <dd className="id">{batch.idempotencyKey ?? "—"}</dd>
        <dt>Created</dt>
        <dd>{dateTime(batch.createdAt)}</dd>
        <dt>Completed</dt>
        <dd>{dateTime(batch.completedAt)}</dd>
        <dt>Items</dt>
        <dd>
          {batch.runCount.toLocaleString()} expected
          {batch.sealed ? `, ${(batch.successfulRunCount ?? 0).toLocaleString()} became runs` : ", still arriving"}
        </dd>
        {batch.parentRunId ? (
          <>
            <dt>Parent run</dt>
            <dd>
              <Link to={paths.run(batch.parentRunId)}>{batch.parentRunId}</Link>
            </dd>
          </>
        ) : null}
      </dl>
      <ProgressBar finished={finished} total={total} label="Runs finished" />
      <ul className="counts" aria-label="Runs by status">
        {RUN_STATUSES.filter((s) => (byStatus[s] ?? 0) > 0).map((s) => (
          <li key={s} data-status={s}>
            <Status value={s} /> {byStatus[s]!.toLocaleString()}
          </li>
        ))}
      </ul>
      {canWrite && !final ? (
        <p>
          <button
            type="button"
            className="danger"
            onClick={() => cancelBatch.mutate()}
            disabled={cancelBatch.isPending}
          >
            Cancel batch
          </button>
        </p>
      ) : null}
      {cancelBatch.error ? <Alert>Could not cancel the batch: {messageOf(cancelBatch.error)}</Alert> : null}
      {liveError ? <Alert>Live updates stopped: {messageOf(liveError)}</Alert> : null}

      {batch.errorCount > 0 ? (
        <section>
          <h2>Item errors ({batch.errorCount.toLocaleString()})</h2>
          <div className="table-wrap">
            <table aria-label="Item errors">
              <thead>
                <tr>
                  <th scope="col">Index</th>
                  <th scope="col">Task</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {batch.errors.map((e) => (
                  <tr key={e.index}>
                    <td>{e.index}</td>
                    <td>{e.taskIdentifier}</td>
                    <td>
                      {e.error}
                      {e.errorCode ? ` (${e.errorCode})` : ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {batch.errorCount > batch.errors.length ? (
            <p className="hint">The first {batch.errors.length} of them, by index.</p>
          ) : null}
        </section>
      ) : null}

      <section>
        <h2>Runs</h2>
        {runs.error ? <Alert>Could not list the runs: {messageOf(runs.error)}</Alert> : null}
        {cancelRun.error ? <Alert>Could not cancel the run: {messageOf(cancelRun.error)}</Alert> : null}
        <div className="table-wrap">
          <table aria-label="Runs" aria-busy={runs.isFetching}>
            <thead>
              <tr>
                <th scope="col">Item</th>
                <th scope="col">Run</th>
                <th scope="col">Task</th>
                <th scope="col">Status</th>
                <th scope="col">Attempt</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
                {canWrite ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {runs.data?.items.map((run) => (
                <tr key={run.index} data-run={run.id} data-status={run.status}>
                  <td>{run.index}</td>
                  <td className="id">
                    <Link to={paths.run(run.id)}>{run.id}</Link>
                  </td>
                  <td>{run.taskIdentifier}</td>
                  <td>
                    <Status value={run.status} />
                  </td>
                  <td>{run.attemptCount}</td>
                  <td>{dateTime(run.startedAt)}</td>
                  <td>{run.startedAt ? duration(run.startedAt, run.finishedAt) : "—"}</td>
                  {canWrite ? (
                    <td>
                      {FINAL_RUN_STATUSES.includes(run.status) ? null : (
                        <button
                          type="button"
                          onClick={() => cancelRun.mutate(run.id)}
                          disabled={cancelRun.isPending}
                          aria-label={`Cancel run ${run.id}`}
                        >
                          Cancel
                        </button>
                      )}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Pager
          label="Run pages"
          previous="← Previous"
          next="Next →"
          hasNewer={cursors.length > 0}
          hasOlder={runs.data?.nextCursor !== undefined}
          onNewer={() => setCursors((c) => c.slice(0, -1))}
          onOlder={() => runs.data?.nextCursor && setCursors((c) => [...c, runs.data.nextCursor!])}
        />
      </section>
    </main>
  );
}
