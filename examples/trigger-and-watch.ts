// Triggers a batch over the typed tRPC client, follows it live, then reads each run's outcome:
// `SALVO_API_KEY=tr_dev_… npx tsx examples/trigger-and-watch.ts` (with a worker serving send-email).
import { createSalvoClient, watchBatch } from "salvo/client";

const salvo = createSalvoClient({
  url: process.env.SALVO_URL ?? "http://127.0.0.1:3030",
  apiKey: process.env.SALVO_API_KEY ?? "",
});

const { id } = await salvo.batch.create.mutate({ runCount: 2 });
await salvo.batch.appendItems.mutate({
  batchId: id,
  items: [
    { index: 0, task: "send-email", payload: { to: "a@example.com", subject: "Welcome" } },
    { index: 1, task: "send-email", payload: { to: "b@example.com", subject: "Welcome" } },
  ],
});

for await (const { message } of watchBatch(salvo, id)) {
  console.log(message.batch.status, `${message.batch.runs.finished}/${message.batch.runCount} runs done`);
} // ends when the batch is final; pass { lastEventId } to resume after a disconnect

const { items } = await salvo.batch.results.query({ batchId: id });
for (const item of items)
  console.log(item.runId, item.ok ? "ok" : "failed", JSON.stringify(item.ok ? item.output : item.error));
