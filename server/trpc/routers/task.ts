import { TriggerTaskInputSchema, TriggerTaskResultSchema } from "../../../shared/schemas.js";
import { triggerTask } from "../../runs/trigger.js";
import { authedProcedure, router } from "../init.js";

export const taskRouter = router({
  trigger: authedProcedure
    .input(TriggerTaskInputSchema)
    .output(TriggerTaskResultSchema)
    .mutation(({ ctx, input }) => triggerTask(ctx.deps, ctx.environment, input)),
});
