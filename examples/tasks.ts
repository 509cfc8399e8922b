// A worker's tasks: run it with `salvo worker examples/tasks.ts` (or `npm run worker -- examples/tasks.ts`).
import { appendFile } from "node:fs/promises";
import type { TaskContext } from "salvo/client";

interface Email {
  to: string;
  subject: string;
}

/** Stands in for a mail provider: each message becomes a line of outbox.ndjson in the worker's directory. */
async function sendEmail(email: Email, signal: AbortSignal): Promise<string> {
  signal.throwIfAborted(); // the run was canceled, or its lease lost: do not send
  const id = `msg_${Date.now().toString(36)}`;
  await appendFile("outbox.ndjson", `${JSON.stringify({ id, ...email })}\n`);
  return id;
}

export const tasks = {
  "send-email": async (payload: Email, ctx: TaskContext) => {
    const messageId = await sendEmail(payload, ctx.signal);
    return { messageId, attempt: ctx.run.attempt }; // stored as the run's output
  },
};
