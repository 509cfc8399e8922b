import { describe, expect, it } from "vitest";
import type { Caller } from "../server/auth/authenticate.js";
import { canRead } from "../server/auth/scopes.js";

const environment = { id: "env_1", project: "p", type: "dev" as const };
const token = (...scopes: string[]): Caller => ({ kind: "public", environment, scopes, keyId: "key_1" });
const run = { kind: "run" as const, runId: "run_1", taskIdentifier: "email", tags: ["user_1"], batchId: "batch_1" };

describe("canRead", () => {
  it("lets a secret key read anything", () => {
    expect(canRead({ kind: "secret", environment, secretKey: "tr_dev_x", keyId: "key_1" }, run)).toBe(true);
  });
  it("grants a run through its id, task, tag or batch scope, and nothing else", () => {
    for (const scope of [
      "read:runs:run_1",
      "read:runs",
      "read:tasks:email",
      "read:tags:user_1",
      "read:batch:batch_1",
      "read:all",
      "admin",
    ]) {
      expect(canRead(token(scope), run), scope).toBe(true);
    }
    for (const scope of [
      "read:runs:run_2",
      "read:tasks:sms",
      "read:tags:user_2",
      "read:batch:batch_2",
      "write:runs:run_1",
    ]) {
      expect(canRead(token(scope), run), scope).toBe(false);
    }
  });
  it("grants a batch only through a batch scope (or type-wide run reads)", () => {
    const batch = { kind: "batch" as const, batchId: "batch_1" };
    expect(canRead(token("read:batch:batch_1"), batch)).toBe(true);
    expect(canRead(token("read:runs"), batch)).toBe(true);
    expect(canRead(token("read:batch:batch_2"), batch)).toBe(false);
    expect(canRead(token("read:runs:run_1"), batch)).toBe(false);
  });
});
