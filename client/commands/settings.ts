import { dirname, isAbsolute, resolve } from "node:path";

/** Exit codes of every `salvo` command. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Thrown by a command to end with one line on stderr and an exit code. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/** SALVO_URL and SALVO_API_KEY of the commands that talk to a running server. */
export function serverConnection(env: NodeJS.ProcessEnv = process.env): { url: string; apiKey: string } {
  const apiKey = env.SALVO_API_KEY;
  if (!apiKey)
    throw new CommandError(
      "SALVO_API_KEY is not set: export an environment's secret key (tr_dev_…), printed at the server's first start",
      EXIT.usage,
    );
  return { url: (env.SALVO_URL || "http://127.0.0.1:3030").replace(/\/+$/, ""), apiKey };
}

/**
 * A path the user typed, resolved from the directory they typed it in. `npm run salvo -- …` runs
 * in the package's root (where npm_package_json is) and keeps the caller's directory in INIT_CWD;
 * a process merely started by something npm ran (and elsewhere) inherits those, so they count
 * only when this process runs in that root.
 */
export function callerPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (isAbsolute(path)) return path;
  const movedByNpm =
    env.INIT_CWD !== undefined && env.npm_package_json !== undefined && dirname(env.npm_package_json) === process.cwd();
  return resolve(movedByNpm ? env.INIT_CWD! : process.cwd(), path);
}
