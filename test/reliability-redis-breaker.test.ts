import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivateRedis, startPrivateRedis } from "./support/private-services.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

// The batch rate limiter's Redis commands time out after 1 s (rate-limiter.ts). With Redis frozen
// or gone, only the first request may wait that long: the breaker then skips Redis.
const COMMAND_TIMEOUT_MS = 1_000;

let redis: PrivateRedis;
let salvo: TestSalvo;
beforeAll(async () => {
  redis = await startPrivateRedis();
  salvo = await startTestSalvo({ REDIS_URL: redis.url });
});
afterAll(async () => {
  await salvo?.close();
  await redis?.close();
});

/** Milliseconds each of `n` one-shot batches took, one after another; each must be a 200. */
async function oneShots(n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const res = await salvo.api("/api/v1/tasks/t/batch", { json: { items: [{ payload: { i } }] } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    times.push(performance.now() - started);
  }
  return times;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function readiness() {
  const res = await fetch(`${salvo.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; database: string; redis: string } };
}

describe("Redis frozen or killed", () => {
  it("costs one-shot batches milliseconds, not the command timeout, and readiness says so", async () => {
    expect(await readiness()).toEqual({
      status: 200,
      body: { status: "ready", database: "up", migrations: "current", redis: "up" },
    });
    await oneShots(3);

    for (const fault of ["freeze", "kill"] as const) {
      if (fault === "freeze") redis.freeze();
      else await redis.kill();
      const times = await oneShots(12);
      // The first may wait out the timeout; the rest skip Redis.
      expect(median(times.slice(1))).toBeLessThan(COMMAND_TIMEOUT_MS / 4);
      expect(Math.max(...times.slice(1))).toBeLessThan(COMMAND_TIMEOUT_MS);
      // Still ready (Salvo runs without Redis), and says Redis is down.
      expect(await readiness()).toEqual({
        status: 200,
        body: { status: "ready", database: "up", migrations: "current", redis: "down" },
      });

      if (fault === "freeze") redis.thaw();
      else await redis.start();
      // The breaker probes again by itself: readiness, then the limiter, are back on Redis.
      await oneShots(1);
      await waitFor(async () => ((await readiness()).body.redis === "up" ? true : undefined), 15_000, "Redis up again");
    }
  }, 60_000);
});
