#!/usr/bin/env node
// The `salvo` command: the compiled CLI (built by `npm run build`, which `npm ci` runs as `prepare`).
// Exits as soon as the command is done, whatever idle keep-alive sockets the client still holds.
import { main } from "../dist/client/cli.js";

process.exit(await main(process.argv.slice(2)));
