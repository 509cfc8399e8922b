import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * The dashboard: a single-page app built by Vite from `dashboard/` into `dist/dashboard` (part of
 * `npm run build`, which `npm ci` runs through `prepare`), served here as static files. It talks
 * to the same tRPC router as any client, so this file serves files and nothing else.
 *
 * - Files are listed once at start: a request can only ever name one of them (no path walking).
 * - Every answer carries a strict Content-Security-Policy: scripts and styles from this origin
 *   only (Vite's build has no inline script), requests to this origin only.
 * - Vite names assets by content hash (`/dashboard/assets/index-<hash>.js`): cached for a year.
 *   `index.html` is revalidated on every load so a new build is picked up at once.
 * - Any other path under `/dashboard/` is one of the app's own pages: it gets `index.html` and the
 *   app routes in the browser. Nothing outside `/dashboard` falls back, so REST, tRPC and health
 *   answers stay as they are; `GET /` redirects to the dashboard.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

interface StaticFile {
  body: Buffer;
  type: string;
  immutable: boolean;
}

/**
 * Where the build is: `dist/dashboard` beside the compiled server (`dist/server/http` → `dist/dashboard`),
 * or the checkout's `dist/dashboard` when the server runs from its TypeScript sources (tests, tsx),
 * never the sources in `dashboard/`. Undefined when it has not been built.
 */
export function dashboardDir(): string | undefined {
  const compiled = import.meta.url.endsWith(".js");
  const dir = fileURLToPath(new URL(compiled ? "../../dashboard/" : "../../dist/dashboard/", import.meta.url));
  return existsSync(join(dir, "index.html")) ? dir : undefined;
}

function listFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const url = relative(dir, path).split(sep).join("/");
        files.set(url, {
          body: readFileSync(path),
          type: TYPES[extname(path)] ?? "application/octet-stream",
          immutable: url.startsWith("assets/"),
        });
      }
    }
  };
  walk(dir);
  return files;
}

function send(reply: FastifyReply, file: StaticFile, cacheControl: string) {
  return reply
    .header("content-type", file.type)
    .header("cache-control", cacheControl)
    .header("content-security-policy", DASHBOARD_CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("x-frame-options", "DENY")
    .send(file.body);
}

/** Serves the build in `dir` (see `dashboardDir`); undefined when there is none, which answers how to build it. */
export function registerDashboard(app: FastifyInstance, dir: string | undefined) {
  const files = dir ? listFiles(dir) : new Map<string, StaticFile>();
  const index = files.get("index.html");

  app.get("/", (_req, reply) => reply.redirect("/dashboard/", 302));

  const serve = async (path: string, reply: FastifyReply) => {
    if (!index) {
      return reply
        .status(503)
        .header("content-type", "text/plain; charset=utf-8")
        .send("The dashboard is not built: run `npm run build` (npm ci runs it) and restart Salvo.\n");
    }
    const file = files.get(path);
    if (file && path !== "index.html")
      return send(reply, file, file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    // A missing asset is a 404 (a stale page asking for an old hash), not the app's HTML.
    if (path.startsWith("assets/"))
      return reply.status(404).header("cache-control", "no-store").send({ error: "Not found" });
    return send(reply, index, "no-cache");
  };
  app.get("/dashboard", (_req, reply) => serve("", reply));
  app.get<{ Params: { "*": string } }>("/dashboard/*", (req, reply) => serve(req.params["*"], reply));
}
