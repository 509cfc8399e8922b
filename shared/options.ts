import { z } from "zod";
import { boundedArray } from "./bounded-array.js";
import { parseDurationSeconds } from "./durations.js";

/** Limits the documentation states for item options. */
export const MAX_TAGS_PER_RUN = 5;
export const MAX_TAG_LENGTH = 63; // "less than 64 characters"
export const MAX_IDEMPOTENCY_KEY_LENGTH = 2048;

/** Longest duration any option may name: what a Postgres integer of seconds holds (~68 years). */
export const MAX_DURATION_SECONDS = 2_147_483_647;

const durationString = (what: string) =>
  z
    .string()
    .refine((s) => (parseDurationSeconds(s) ?? 0) > 0, {
      message: `${what} must be a duration like "30s", "15m" or "1h42m"`,
    })
    .refine((s) => (parseDurationSeconds(s) ?? 0) <= MAX_DURATION_SECONDS, {
      message: `${what} must be at most ${MAX_DURATION_SECONDS} seconds`,
    });

/** A delay: a duration ("1h", "30d") or a date-time string (the SDK sends a Date as ISO text). */
export const DelaySchema = z.union([z.string(), z.date()]).transform((value, ctx) => {
  if (value instanceof Date) return value.toISOString();
  const seconds = parseDurationSeconds(value);
  if (seconds !== undefined && seconds > MAX_DURATION_SECONDS) {
    ctx.addIssue({ code: "custom", message: `delay must be at most ${MAX_DURATION_SECONDS} seconds` });
    return z.NEVER;
  }
  if (seconds !== undefined) return value;
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value))) return value;
  ctx.addIssue({ code: "custom", message: `delay must be a duration like "1h" or a date-time, got "${value}"` });
  return z.NEVER;
});

export const QueueOptionsSchema = z.object({
  name: z.string().trim().min(1, "queue.name must not be empty").max(128).optional(),
  concurrencyLimit: z.number().int().min(0).max(1000).optional(),
});

/**
 * Options of one trigger or batch item. Unknown keys (the SDK also sends `machine`, `priority`,
 * `lockToVersion`, `idempotencyKeyOptions`...) are stripped, never rejected.
 */
/**
 * A run's metadata: any JSON object, passed through as it is. (`z.record` would rebuild it and
 * silently drop a `__proto__` key, which is data here like any other.)
 */
export const MetadataSchema = z.custom<Record<string, unknown>>(
  (value) => typeof value === "object" && value !== null && !Array.isArray(value),
  "metadata must be an object",
);

export const TriggerOptionsSchema = z.object({
  queue: QueueOptionsSchema.optional(),
  concurrencyKey: z.union([z.string(), z.number()]).transform(String).pipe(z.string().min(1).max(512)).optional(),
  idempotencyKey: z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH).optional(),
  idempotencyKeyTTL: durationString("idempotencyKeyTTL").optional(),
  ttl: z
    .union([
      durationString("ttl"),
      z
        .number()
        .int()
        .min(1, "ttl must be at least 1 second")
        .max(MAX_DURATION_SECONDS, `ttl must be at most ${MAX_DURATION_SECONDS} seconds`),
    ])
    .optional(),
  delay: DelaySchema.optional(),
  tags: z
    .unknown()
    .transform((t) => (typeof t === "string" ? [t] : t))
    .pipe(
      boundedArray(z.string().max(MAX_TAG_LENGTH, `each tag must be less than ${MAX_TAG_LENGTH + 1} characters`), {
        max: MAX_TAGS_PER_RUN,
        maxMessage: `a run can have at most ${MAX_TAGS_PER_RUN} tags`,
      }),
    )
    .optional() as z.ZodOptional<z.ZodType<string[], string | string[]>>,
  metadata: MetadataSchema.optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  payloadType: z.string().min(1).max(128).optional(),
  test: z.boolean().optional(),
});
export type TriggerOptions = z.output<typeof TriggerOptionsSchema>;
export type TriggerOptionsInput = z.input<typeof TriggerOptionsSchema>;
