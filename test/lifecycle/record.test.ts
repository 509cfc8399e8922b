import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import {
  recordRunStatus,
  runStatusEvent,
  runStatusEventsOf,
  TRANSITION_COLUMNS,
} from "../../server/lifecycle/record.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("record: the run.status event", () => {
  it("is written the same by the TS builder and by the SQL fragment", async () => {
    const batch = await t.batch();
    const a = await t.run({ status: "EXECUTING", attempt: 2, batch_id: batch.id });
    const b = await t.run({ status: "EXECUTING", attempt: 2, batch_id: batch.id });
    await t.tx(async (trx) => {
      const rows = await trx.selectFrom("runs").select(TRANSITION_COLUMNS).where("id", "=", a.id).execute();
      await recordRunStatus(trx, rows);
      await sql`with moved as (select ${sql.join(TRANSITION_COLUMNS.map((c) => sql.ref(c)))} from runs where id = ${b.id}),
        written as (${runStatusEventsOf("moved")}) select 1`.execute(trx);
    });
    const [fromTs] = await t.events({ runId: a.id });
    const [fromSql] = await t.events({ runId: b.id });
    expect(fromTs).toEqual({ type: "run.status", data: { status: "EXECUTING", taskIdentifier: "task", attempt: 2 } });
    expect(fromSql).toEqual(fromTs);
    const withBatch = await t.db.selectFrom("events").select("batch_id").where("run_id", "in", [a.id, b.id]).execute();
    expect(withBatch.map((e) => e.batch_id)).toEqual([batch.id, batch.id]);
  });

  it("carries what only some transitions say after the common fields", () => {
    const event = runStatusEvent(
      { id: "run_1", environment_id: "env", batch_id: null, task_identifier: "t", status: "WAITING", attempt: 1 },
      { waitingFor: "batch_1" },
    );
    expect(event.data).toBe('{"status":"WAITING","taskIdentifier":"t","attempt":1,"waitingFor":"batch_1"}');
  });
});
