// Triggers a batch with the published Trigger.dev SDK, follows its runs live, then lists and replays them:
// `SALVO_API_KEY=tr_dev_… npx tsx examples/realtime-sdk.ts` (with a worker serving send-email).
import { configure, runs, tasks } from "@trigger.dev/sdk";

configure({ baseURL: process.env.SALVO_URL ?? "http://127.0.0.1:3030", accessToken: process.env.SALVO_API_KEY ?? "" });

const handle = await tasks.batchTrigger("send-email", [
  { payload: { to: "c@example.com", subject: "Hello" } },
  { payload: { to: "d@example.com", subject: "Hello" } },
]);

// Every run of the batch as it is now, then each change, until all of them are final.
const finished = new Map<string, string>();
for await (const run of runs.subscribeToBatch(handle.batchId)) {
  if (run.isCompleted) finished.set(run.id, run.status);
  if (finished.size === handle.runCount) break;
}
console.log([...finished.values()].join(" "));

// The batch's runs, newest first (the SDK pages through them); a replay is a new run, same payload.
for await (const run of runs.list({ batch: handle.batchId })) {
  const replay = await runs.replay(run.id);
  console.log(`${run.id} ${run.status} replayed as ${replay.id}`);
}
