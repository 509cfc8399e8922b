import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";

/**
 * An exclusive lock on an embedded (PGlite) data directory. PGlite is one process's database:
 * two processes writing the same files corrupt them (indexes missing heap tuples, acknowledged
 * batches gone), so whoever opens a directory, server or CLI, holds `salvo.lock` in it.
 *
 * - Taken atomically: the lock's content is written to a file of our own, then hard-linked to
 *   `salvo.lock`; `link` fails if the name exists, so exactly one opener wins and nobody ever
 *   reads a half-written lock.
 * - A lock whose holder is dead (same host, pid gone, or the pid now belongs to a process that
 *   started later) is stale and taken over. Only the process holding `salvo.lock.stale-<holder>`
 *   (itself taken with `link`) may delete a stale lock of that holder, and only after reading it
 *   again, so two openers recovering the same stale lock cannot both win.
 * - Released on close and at process exit (a `kill -9` leaves it behind: stale, taken over at
 *   the next open).
 */

const LOCK_FILE = "salvo.lock";

export interface LockHolder {
  pid: number;
  hostname: string;
  /** When the holder started (Linux: its start time in clock ticks since boot, from /proc). */
  processStart: string | null;
  lockedAt: string;
}

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by process ${holder.pid} on ${holder.hostname} ` +
        `(locked since ${holder.lockedAt}): stop that process first, or use DATABASE_URL`,
    );
  }
}

export interface DataDirLock {
  release(): void;
}

/** A process's start time as the kernel records it, to tell a reused pid from the holder. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after its last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(holder: LockHolder): boolean {
  if (!(holder.pid > 0)) return false;
  // Another host's process cannot be checked from here: assume it lives.
  if (holder.hostname !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // The pid is taken: by the holder, or by a later process that reused it.
  const start = processStart(holder.pid);
  return holder.processStart === null || start === null || start === holder.processStart;
}

function readHolder(path: string): { text: string; holder: LockHolder } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return { text, holder: JSON.parse(text) as LockHolder };
  } catch {
    // Not ours to interpret (it is always written whole): treat its writer as unknown and dead.
    return { text, holder: { pid: 0, hostname: hostname(), processStart: null, lockedAt: "unknown" } };
  }
}

/** link(2) our fully written content to `path`: true if we now own it, false if it existed. */
function linkExclusive(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, content);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Takes `path` (a lock file) for `content`. A live holder: throws its identity (`onLive`) or,
 * for the short-lived recovery guards, waits for it to go. A dead holder's lock is removed under
 * the guard `<path>.stale-<holder>`, taken the same way (recursively: a recoverer that died
 * holding a guard leaves a stale guard, recovered alike).
 */
function take(path: string, content: string, onLive: (holder: LockHolder) => "wait" | never): void {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (linkExclusive(path, content)) return;
    const current = readHolder(path);
    if (current === undefined) continue; // released meanwhile: try again
    if (isAlive(current.holder)) {
      onLive(current.holder);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
      sleepSync(20);
      continue;
    }
    const guard = `${path}.stale-${current.holder.pid}-${current.holder.processStart ?? "x"}`;
    take(guard, content, () => "wait");
    try {
      // Still the same dead holder's lock? Only then is it ours to delete.
      if (readHolder(path)?.text === current.text) unlinkSync(path);
    } finally {
      unlinkSync(guard);
    }
  }
}

/** Holds `dataDir` for this process until `release()` or exit; throws DataDirLockedError if held. */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const me: LockHolder = {
    pid: process.pid,
    hostname: hostname(),
    processStart: processStart(process.pid),
    lockedAt: new Date().toISOString(),
  };
  const content = JSON.stringify(me);
  take(path, content, (holder) => {
    throw new DataDirLockedError(resolve(dataDir), holder);
  });
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off("exit", release);
    // Delete it only while it is still ours.
    if (readHolder(path)?.text === content) unlinkSync(path);
  };
  process.on("exit", release);
  return { release };
}
