/**
 * Why a start failed, in one line that names the setting to fix. A database that cannot be used
 * would otherwise surface as a driver's stack (an AggregateError with an empty message, for a
 * refused connection) that never says which variable pointed there.
 */
export class StartError extends Error {
  override name = "StartError";
}

/** The driver's reason: its message, or its code (ECONNREFUSED…), or that of the first address tried. */
function reason(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: Array<{ message?: string; code?: string }> };
  if (e.message) return e.message;
  const first = e.errors?.[0];
  return first?.message || first?.code || e.code || String(err);
}

/** The URL without its password, to name which database was meant. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(not a valid URL)";
  }
}

export function databaseStartError(err: unknown, databaseUrl: string | undefined, dataDir: string): StartError {
  if (databaseUrl)
    return new StartError(`cannot use the database at DATABASE_URL (${withoutPassword(databaseUrl)}): ${reason(err)}`);
  return new StartError(`cannot open the embedded database in SALVO_DATA_DIR (${dataDir}): ${reason(err)}`);
}

export function listenStartError(err: unknown, host: string, port: number): StartError {
  const code = (err as { code?: string }).code;
  if (code === "EADDRINUSE")
    return new StartError(`${host}:${port} is already in use: stop what listens there, or set PORT (or HOST)`);
  return new StartError(`cannot listen on ${host}:${port} (HOST, PORT): ${reason(err)}`);
}
