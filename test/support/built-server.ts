import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

/** The repository's root: where `npm start` and `bin/salvo.js` run from. */
export const ROOT = join(import.meta.dirname, "..", "..");

export interface Started {
  child: ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved as they came. */
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Spawns a command of the built package (`npm start`, `node dist/server/main.js`, `node
 * bin/salvo.js …`) with exactly `env` added to this process's environment (a value of undefined
 * removes the variable), capturing its output.
 */
export function spawnBuilt(command: string, args: string[], env: Record<string, string | undefined>): Started {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[name];
    else childEnv[name] = value;
  }
  const child = spawn(command, args, { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += String(d)));
  child.stderr!.on("data", (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves once `started` has printed text matching `pattern` (its match), rejects if it exits first. */
export function waitForOutput(started: Started, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`no ${pattern} within ${timeoutMs} ms:\n${started.output()}`)),
      timeoutMs,
    );
    const check = setInterval(() => {
      const match = pattern.exec(started.output());
      if (match) finish(undefined, match);
    }, 20);
    const finish = (err?: Error, match?: RegExpExecArray) => {
      clearTimeout(timer);
      clearInterval(check);
      if (match) resolve(match);
      else reject(err);
    };
    void started.exited.then((code) => {
      const match = pattern.exec(started.output());
      finish(new Error(`exited with ${code} before ${pattern}:\n${started.output()}`), match ?? undefined);
    });
  });
}

/** Whether a process with this pid exists. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
