/**
 * The statuses of runs and batches, without zod: what a browser bundle (the dashboard) imports
 * without carrying the schemas. `schemas.ts` builds its enums from these.
 */
export const RUN_STATUSES = [
  "DELAYED",
  "QUEUED",
  "EXECUTING",
  "REATTEMPTING",
  "WAITING",
  "COMPLETED",
  "FAILED",
  "CANCELED",
  "EXPIRED",
  "CRASHED",
  "SYSTEM_FAILURE",
  "TIMED_OUT",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINAL_RUN_STATUSES: readonly RunStatus[] = [
  "COMPLETED",
  "FAILED",
  "CANCELED",
  "EXPIRED",
  "CRASHED",
  "SYSTEM_FAILURE",
  "TIMED_OUT",
];

export const BATCH_STATUSES = ["PENDING", "PROCESSING", "COMPLETED", "PARTIAL_FAILED", "ABORTED"] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];
