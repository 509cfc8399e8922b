import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useRef, useState } from "react";
import type { AllBatchesMessage, BatchProgress } from "../../../shared/live.js";
import { BATCH_STATUSES, type BatchStatus } from "../../../shared/statuses.js";
import { type Api, messageOf } from "../api.js";
import { Alert, Link, Pager, ProgressBar, Status } from "../components.js";
import { dateTime, progressOf } from "../format.js";
import { useSubscription, useThrottled } from "../live.js";
import { paths } from "../router.js";

const PAGE_SIZE = 25;

/** The environment's batches, newest first, each with a progress bar that `batch.watchAll` moves. */
export function BatchesPage({ api }: { api: Api }) {
  const [status, setStatus] = useState<BatchStatus | "">("");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const list = useQuery({
    queryKey: ["batch.list", status, cursor],
    queryFn: () =>
      api.batch.list.query({ limit: PAGE_SIZE, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) }),
    placeholderData: keepPreviousData,
  });
  const shown = new Set(list.data?.items.map((b) => b.id));
  const shownRef = useRef(shown);
  shownRef.current = shown;

  // Progress as events report it, for the batches on this page; a batch not on the first page
  // yet (just created, or now matching the filter) brings the page up to date.
  const [live, setLive] = useState<Record<string, BatchProgress>>({});
  const refetch = useThrottled(() => void list.refetch(), 1000);
  const { error: liveError } = useSubscription<AllBatchesMessage>(
    "batch.watchAll",
    (handlers) => api.batch.watchAll.subscribe(undefined, handlers),
    (message) => {
      const mine = Object.entries(message.batches).filter(([id]) => shownRef.current.has(id));
      if (mine.length > 0) setLive((before) => ({ ...before, ...Object.fromEntries(mine) }));
      if (
        mine.length < Object.keys(message.batches).length ||
        (status !== "" && mine.some(([, b]) => b.status !== status))
      )
        refetch();
    },
  );

  const changeStatus = (value: string) => {
    setStatus(value as BatchStatus | "");
    setCursors([]);
  };

  return (
    <main>
      <h1>Batches</h1>
      <div className="toolbar">
        <label htmlFor="status-filter">Status</label>
        <select id="status-filter" value={status} onChange={(e) => changeStatus(e.target.value)}>
          <option value="">All</option>
          {BATCH_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {list.error ? <Alert>Could not list batches: {messageOf(list.error)}</Alert> : null}
      {liveError ? <Alert>Live updates stopped: {messageOf(liveError)}</Alert> : null}
      <div className="table-wrap">
        <table aria-label="Batches" aria-busy={list.isFetching}>
          <thead>
            <tr>
              <th scope="col">Batch</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Progress</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.items.map((batch) => {
              const now = live[batch.id];
              const { finished, total } = progressOf(batch, now);
              return (
                <tr key={batch.id} data-batch={batch.id}>
                  <td className="id">
                    <Link to={paths.batch(batch.id)}>{batch.id}</Link>
                  </td>
                  <td>
                    <Status value={now?.status ?? batch.status} />
                  </td>
                  <td>{dateTime(batch.createdAt)}</td>
                  <td>
                    <ProgressBar finished={finished} total={total} label={`Progress of ${batch.id}`} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {list.data && list.data.items.length === 0 ? (
        <p className="empty">No batches{status ? ` ${status}` : ""}.</p>
      ) : null}
      <Pager
        label="Batch pages"
        hasNewer={cursors.length > 0}
        hasOlder={list.data?.nextCursor !== undefined}
        onNewer={() => setCursors((c) => c.slice(0, -1))}
        onOlder={() => list.data?.nextCursor && setCursors((c) => [...c, list.data.nextCursor!])}
      />
    </main>
  );
}
