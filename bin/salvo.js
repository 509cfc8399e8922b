#!/usr/bin/env node
// The `salvo` command: runs client/cli.ts through tsx (the package ships TypeScript sources).
// Paths resolve relative to this file, so it works from any working directory.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// tsx is resolved from this package, not from the caller's working directory.
const tsx = import.meta.resolve("tsx");
const result = spawnSync(process.execPath, ["--import", tsx, join(root, "client", "cli.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: process.cwd(),
  env: process.env,
});
if (result.error) {
  console.error(`salvo: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
