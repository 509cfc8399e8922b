/**
 * A CPU profile of one stretch of a process's life (not its start-up), written as a
 * `.cpuprofile` (open it in Chrome DevTools, or `npx tsx bench/profile-summary.ts <file>`). The
 * fan-out bench profiles each side only while events flow: with `FANOUT_PROFILE=<dir>` the server
 * (this process) and every subscriber process write one each.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

export async function startWindowProfile(): Promise<(dir: string, name: string) => Promise<string>> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async (dir, name) => {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return file;
  };
}
