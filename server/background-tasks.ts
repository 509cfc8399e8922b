import type { BackgroundTask } from "./background.js";
import { pruneEventsTask } from "./events/retention.js";

/** Every periodic task the server runs. Each area adds its own here. */
export const BACKGROUND_TASKS: BackgroundTask[] = [pruneEventsTask];
