import { useMutation, useQuery } from "@tanstack/react-query";
import { type Api, messageOf } from "../api.js";
import { Alert } from "../components.js";

/** Each queue's limit and its executing and queued runs (read every 2 s), with pause and resume. */
export function QueuesPage({ api }: { api: Api }) {
  const queues = useQuery({ queryKey: ["queue.list"], queryFn: () => api.queue.list.query(), refetchInterval: 2000 });
  const update = useMutation({
    mutationFn: (input: { name: string; paused: boolean }) => api.queue.update.mutate(input),
    onSettled: () => void queues.refetch(),
  });
  return (
    <main>
      <h1>Queues</h1>
      {queues.error ? <Alert>Could not list queues: {messageOf(queues.error)}</Alert> : null}
      {update.error ? <Alert>Could not change the queue: {messageOf(update.error)}</Alert> : null}
      <div className="table-wrap">
        <table aria-label="Queues">
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col">Limit</th>
              <th scope="col">Executing</th>
              <th scope="col">Queued</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {queues.data?.map((q) => (
              <tr key={q.name} data-queue={q.name}>
                <td>{q.name}</td>
                <td>{q.concurrencyLimit ?? "none"}</td>
                <td>{q.executing.toLocaleString()}</td>
                <td>{q.queued.toLocaleString()}</td>
                <td>
                  {q.paused ? "paused " : "running "}
                  <button
                    type="button"
                    onClick={() => update.mutate({ name: q.name, paused: !q.paused })}
                    disabled={update.isPending}
                    aria-label={`${q.paused ? "Resume" : "Pause"} queue ${q.name}`}
                  >
                    {q.paused ? "Resume" : "Pause"}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {queues.data?.length === 0 ? <p className="empty">No queues yet: a queue appears once a run names it.</p> : null}
    </main>
  );
}
