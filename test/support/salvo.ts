import { connect } from "../../db/connect.js";
import { type CreatedEnvironment, createEnvironment } from "../../server/auth/environments.js";
import { loadConfig } from "../../server/config.js";
import type { LogStream } from "../../server/observability/log.js";
import { type RunningSalvo, startSalvo } from "../../server/start.js";
import { undocumented } from "./documented.js";

/**
 * A real Salvo server on a free port: on the Postgres at DATABASE_URL when it is set (CI), on a
 * fresh in-memory PGlite otherwise. Each call makes its own environment, so test files sharing one
 * Postgres never see each other's data.
 */
export interface TestSalvo extends RunningSalvo {
  env: CreatedEnvironment;
  key: string;
  /** Another environment's key, for isolation tests. */
  newEnvironment(type?: CreatedEnvironment["type"]): Promise<CreatedEnvironment>;
  /** fetch against the server with this environment's key (override or drop with headers). */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
}

export async function startTestSalvo(
  overrides: Record<string, string> = {},
  options: { logStream?: LogStream } = {},
): Promise<TestSalvo> {
  const config = loadConfig({
    // Suites trigger thousands of items within seconds: the batch rate limit is for the tests
    // that set it (test/limits-rate.test.ts), not a default for all.
    SALVO_BATCH_RATE_LIMIT_MAX: "100000000",
    // Likewise the general request limit (test/request-rate-limit.test.ts sets its own).
    SALVO_RATE_LIMIT_MAX: "100000000",
    // Suites share one Postgres: each server would report every other suite's runs that no
    // worker serves (test/first-hour-worker.test.ts is where that is tested).
    SALVO_UNSERVED_AFTER_MS: "3600000",
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    SALVO_LOG_LEVEL: "silent",
    SALVO_BOOTSTRAP_KEY: "",
    ...overrides,
  });
  const connection = await connect({ databaseUrl: config.databaseUrl, dataDir: "memory://", poolSize: 10 });
  const salvo = await startSalvo(config, { connection, logStream: options.logStream });
  const env = await createEnvironment(salvo.deps, { type: "dev", project: "test" });
  return {
    ...salvo,
    env,
    key: env.secretKey,
    newEnvironment: (type = "dev") => createEnvironment(salvo.deps, { type, project: "test" }),
    async api(path, init = {}) {
      const { json, headers, ...rest } = init;
      const method = rest.method ?? (json !== undefined ? "POST" : "GET");
      const res = await fetch(salvo.url + path, {
        ...rest,
        method,
        headers: {
          authorization: `Bearer ${env.secretKey}`,
          ...(json !== undefined ? { "content-type": "application/json" } : {}),
          ...(headers as Record<string, string>),
        },
        body: json !== undefined ? JSON.stringify(json) : rest.body,
      });
      // Every answer a test records is also held against the OpenAPI document.
      const problem = await undocumented(method, path, res);
      if (problem)
        throw new Error(
          `An answer the OpenAPI document does not describe (document it in shared/rest-api.ts): ${problem}`,
        );
      return res;
    },
    async close() {
      await salvo.close();
      await connection.close();
    },
  };
}

/** NDJSON text for items: one JSON object per line. */
export const ndjson = (items: unknown[]) => `${items.map((i) => JSON.stringify(i)).join("\n")}\n`;

/** The claims of a JWT (read, not verified: test/auth-tokens.test.ts verifies them). */
export const jwtClaims = (jwt: string | null): Record<string, unknown> =>
  JSON.parse(Buffer.from(String(jwt).split(".")[1] ?? "", "base64url").toString());

/** The error body every REST error has: `error` (what the SDK reads) and `message` (the seeds' v3 shape). */
export const errorBody = (message: unknown) => ({ error: message, message });
