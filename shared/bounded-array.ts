import { z } from "zod";

/** Most validation issues one input is checked for and reported with. */
export const MAX_REPORTED_ISSUES = 20;

/**
 * A list input validated element by element that stops once MAX_REPORTED_ISSUES issues are found.
 * `z.array` checks every element and keeps an issue for each: a 200 KB list of bad items made a
 * 40 MB error, and millions exhausted the server's memory. The length limits are checked first,
 * before any element. Typed as the array of `element` it stands for.
 */
export function boundedArray<T extends z.ZodType>(
  element: T,
  limits: { min?: number; minMessage?: string; max?: number; maxMessage?: string } = {},
): z.ZodType<z.output<T>[], z.input<T>[]> {
  return z.unknown().transform((input, ctx) => {
    if (!Array.isArray(input)) {
      ctx.addIssue({
        code: "custom",
        message: `Invalid input: expected array, received ${input === null ? "null" : typeof input}`,
      });
      return z.NEVER;
    }
    if (limits.max !== undefined && input.length > limits.max) {
      ctx.addIssue({
        code: "custom",
        message: limits.maxMessage ?? `Too big: expected array to have <=${limits.max} items`,
      });
      return z.NEVER;
    }
    if (limits.min !== undefined && input.length < limits.min) {
      ctx.addIssue({
        code: "custom",
        message: limits.minMessage ?? `Too small: expected array to have >=${limits.min} items`,
      });
      return z.NEVER;
    }
    const out: z.output<T>[] = [];
    let issues = 0;
    for (let i = 0; i < input.length; i++) {
      const result = element.safeParse(input[i]);
      if (result.success) {
        out.push(result.data);
        continue;
      }
      for (const issue of result.error.issues) {
        ctx.addIssue({ ...issue, path: [i, ...issue.path] } as never);
        // The last issue reported says the list was not checked to its end.
        if (++issues === MAX_REPORTED_ISSUES - 1) {
          ctx.addIssue({
            code: "custom",
            message: `more issues not checked (validation stops at ${MAX_REPORTED_ISSUES} issues)`,
          });
          return z.NEVER;
        }
      }
    }
    return issues > 0 ? z.NEVER : out;
  }) as unknown as z.ZodType<z.output<T>[], z.input<T>[]>;
}
