import { useMutation, useQuery } from "@tanstack/react-query";
import type { RunWatchMessage } from "../../../shared/live.js";
import { FINAL_RUN_STATUSES } from "../../../shared/statuses.js";
import { type Api, messageOf, statusOf } from "../api.js";
import { Alert, Link, Status } from "../components.js";
import { dateTime, duration, json } from "../format.js";
import { useSubscription, useThrottled } from "../live.js";
import { paths } from "../router.js";

/** One run, read again (`run.get`) whenever `run.watch` reports a change. */
export function RunPage({ api, runId, canWrite }: { api: Api; runId: string; canWrite: boolean }) {
  const run = useQuery({
    queryKey: ["run.get", runId],
    queryFn: () => api.run.get.query({ runId }),
    retry: (count, error) => statusOf(error) === undefined && count < 3,
  });
  const refetch = useThrottled(() => void run.refetch(), 500);
  const { error: liveError } = useSubscription<RunWatchMessage>(
    `run.watch:${runId}`,
    run.isSuccess ? (handlers) => api.run.watch.subscribe({ runId }, handlers) : undefined,
    (message) => {
      if (message.kind === "events") refetch();
    },
  );
  const cancel = useMutation({ mutationFn: () => api.run.cancel.mutate({ runId }), onSettled: refetch });

  if (run.error) {
    const status = statusOf(run.error);
    return (
      <main>
        <h1>Run {runId}</h1>
        <Alert>
          {status === 403 || status === 401
            ? `This link or key does not give access to run ${runId}.`
            : status === 404
              ? `Run ${runId} was not found.`
              : `Could not read run ${runId}: ${messageOf(run.error)}`}
        </Alert>
      </main>
    );
  }
  const r = run.data;
  if (!r) return <main aria-busy="true">Loading run {runId}…</main>;
  const final = FINAL_RUN_STATUSES.includes(r.status);

  return (
    <main>
      <h1>
        Run <span className="id">{r.id}</span>
      </h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          <Status value={r.status} />
        </dd>
        <dt>Task</dt>
        <dd>{r.taskIdentifier}</dd>
        <dt>Queue</dt>
        <dd>{r.queue}</dd>
        <dt>Attempts</dt>
        <dd>
          {r.attemptCount}
          {r.maxAttempts !== undefined ? ` of ${r.maxAttempts}` : ""}
        </dd>
        <dt>Batch</dt>
        <dd>
          {r.batchId ? (
            <>
              <Link to={paths.batch(r.batchId)}>{r.batchId}</Link>
              {r.batchIndex !== undefined ? ` (item ${r.batchIndex})` : ""}
            </>
          ) : (
            "—"
          )}
        </dd>
        <dt>Parent run</dt>
        <dd>{r.parentRunId ? <Link to={paths.run(r.parentRunId)}>{r.parentRunId}</Link> : "—"}</dd>
        <dt>Tags</dt>
        <dd>{r.tags.length > 0 ? r.tags.join(", ") : "—"}</dd>
        <dt>Idempotency key</dt>
        <dd className="id">{r.idempotencyKey ?? "—"}</dd>
        <dt>Created</dt>
        <dd>{dateTime(r.createdAt)}</dd>
        {r.delayedUntil ? (
          <>
            <dt>Delayed until</dt>
            <dd>{dateTime(r.delayedUntil)}</dd>
          </>
        ) : null}
        <dt>Started</dt>
        <dd>{dateTime(r.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{dateTime(r.finishedAt)}</dd>
        <dt>Duration</dt>
        <dd>{r.startedAt ? duration(r.startedAt, r.finishedAt) : "—"}</dd>
        {r.expiredAt ? (
          <>
            <dt>Expired</dt>
            <dd>{dateTime(r.expiredAt)}</dd>
          </>
        ) : null}
      </dl>
      {canWrite && !final ? (
        <p>
          <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
            Cancel run
          </button>
        </p>
      ) : null}
      {cancel.error ? <Alert>Could not cancel the run: {messageOf(cancel.error)}</Alert> : null}
      {liveError ? <Alert>Live updates stopped: {messageOf(liveError)}</Alert> : null}
      <h2>Payload</h2>
      <pre>{json(r.payload)}</pre>
      {r.error ? (
        <>
          <h2>Error</h2>
          <pre className="error">
            {r.error.name ? `${r.error.name}: ` : ""}
            {r.error.message}
            {r.error.stackTrace ? `\n\n${r.error.stackTrace}` : ""}
          </pre>
        </>
      ) : (
        <>
          <h2>Output</h2>
          <pre>{json(r.output)}</pre>
        </>
      )}
      <h2>Metadata</h2>
      <pre>{json(r.metadata)}</pre>
    </main>
  );
}
