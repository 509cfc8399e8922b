#!/usr/bin/env node
// The `salvo` command: runs client/cli.ts through tsx (the package ships TypeScript sources).
// Paths resolve relative to this file, so it works from any working directory.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// tsx is resolved from this package, not from the caller's working directory.
const tsx = import.meta.resolve("tsx");
const child = spawn(process.execPath, ["--import", tsx, join(root, "client", "cli.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: process.cwd(),
  env: process.env,
});
// A signal to this process is meant for the command: pass it on and exit as the command does.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (err) => {
  console.error(`salvo: ${err.message}`);
  process.exit(1);
});
// Killed by a signal: the shell's convention, 128 + its number.
child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
