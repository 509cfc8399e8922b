import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../server/config.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Starts `tsx server/main.ts` with this bootstrap key; resolves with its exit code and output. */
function startServer(bootstrapKey: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(`${ROOT}/node_modules/.bin/tsx`, ["server/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, PORT: "0", SALVO_BOOTSTRAP_KEY: bootstrapKey, SALVO_DATA_DIR: "memory://" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += String(d)));
    child.stderr.on("data", (d) => (output += String(d)));
    // A server that started would keep running: stop it, the test then fails on the exit code.
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("SALVO_BOOTSTRAP_KEY strength (public tokens are HMAC-signed with it)", () => {
  it("a server with a short bootstrap key refuses to start and says why", async () => {
    const { code, output } = await startServer("tr_dev_summer2026");
    expect(code).toBe(1);
    expect(output).toContain("SALVO_BOOTSTRAP_KEY needs at least 20 random letters or digits after its prefix");
    expect(output).toContain("guessed offline");
    expect(output).not.toContain("salvo listening");
  }, 40_000);

  it("refuses 19 characters, padding of one character, and accepts 20 random ones of any prefix", () => {
    const load = (key: string) => () => loadConfig({ SALVO_BOOTSTRAP_KEY: key });
    expect(load("tr_prod_0123456789abcdefghi")).toThrow(/at least 20 random letters or digits/);
    expect(load(`tr_dev_${"a".repeat(40)}`)).toThrow(/at least 10 different ones/);
    expect(load("tr_prod_0123456789abcdefghij").call(null).bootstrapKey).toBe("tr_prod_0123456789abcdefghij");
    expect(load("tr_preview_Q7x9Lm2Pz4Rt8Kw1Vb6Nc3").call(null).bootstrapKey).toBe("tr_preview_Q7x9Lm2Pz4Rt8Kw1Vb6Nc3");
  });
});
