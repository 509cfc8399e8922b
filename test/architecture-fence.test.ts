import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The layer rule of docs/ARCHITECTURE.md, read from the code: every relative import under
 * `server/` is resolved to the folder it lands in, and a folder may import only what its rule
 * allows. `lifecycle/` (every status change of an existing run or batch) sits below the domain
 * folders, which call it; it must never call back up into them.
 */
const ROOT = resolve(import.meta.dirname, "..");
const SERVER = join(ROOT, "server");

/** Where an importer may not reach: a folder of `server/`, a file of it, or anything outside both lists. */
const DOMAIN = ["server/runs", "server/batches", "server/queue", "server/lifecycle"];
const TRANSPORT = ["server/trpc", "server/rest", "server/http"];

/** Where an importer may reach (`only`) or may not (`never`): folders or files, repository-relative. */
const RULES: { from: string; only?: string[]; never?: string[] }[] = [
  {
    from: "server/lifecycle",
    only: [
      "server/lifecycle",
      "db",
      "shared",
      "server/adapters",
      "server/events/outbox.ts",
      "server/events/notify.ts",
      // Counters that move after commit (db/transaction.ts `afterCommit`); the file imports only db/ and shared/.
      "server/observability/metrics.ts",
    ],
  },
  { from: "server/runs", never: ["server/batches", "server/queue", "server/limits", ...TRANSPORT] },
  { from: "server/batches", never: ["server/queue", ...TRANSPORT] },
  { from: "server/queue", never: ["server/runs", "server/batches", ...TRANSPORT] },
  { from: "server/events", never: [...DOMAIN, ...TRANSPORT] },
  { from: "server/limits", never: [...DOMAIN, ...TRANSPORT] },
  { from: "server/auth", never: [...DOMAIN, ...TRANSPORT, "server/background.ts"] },
  { from: "server/packets", never: [...DOMAIN, ...TRANSPORT] },
  { from: "server/deps.ts", never: [...DOMAIN, ...TRANSPORT, "server/limits"] },
  { from: "server/trpc", never: ["server/rest", "server/http"] },
  { from: "server/adapters", only: ["server/adapters"] },
  // Metrics and the logger sit below everything that reports to them.
  { from: "server/observability", only: ["server/observability", "db", "shared"] },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The repository-relative paths a file imports (static `from "..."` and dynamic `import("...")`). */
function importsOf(file: string, text = readFileSync(file, "utf8")): string[] {
  const specifiers = [...text.matchAll(/\bfrom\s+"(\.{1,2}\/[^"]+)"|\bimport\s*\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
  return specifiers.map((s) => relative(ROOT, resolve(dirname(file), s.replace(/\.js$/, ".ts"))));
}

const within = (path: string, place: string) => path === place || path.startsWith(`${place}/`);

/** Every import that breaks a rule, as `importer -> imported`. */
function violations(files: { path: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { path, text } of files) {
    const importer = relative(ROOT, path);
    const rule = RULES.find((r) => within(importer, r.from));
    if (!rule) continue;
    for (const target of importsOf(path, text)) {
      const allowed = rule.only
        ? rule.only.some((place) => within(target, place))
        : !rule.never!.some((place) => within(target, place));
      if (!allowed) found.push(`${importer} -> ${target}`);
    }
  }
  return found;
}

describe("architecture fence", () => {
  const files = sourceFiles(SERVER).map((path) => ({ path, text: readFileSync(path, "utf8") }));

  it("reads the imports of every server file", () => {
    expect(files.length).toBeGreaterThan(50);
    const lifecycle = files.filter((f) => within(relative(ROOT, f.path), "server/lifecycle"));
    expect(lifecycle.length).toBeGreaterThan(5);
    // The reader sees multi-line imports and type imports, which are imports all the same.
    expect(importsOf(join(SERVER, "x/y.ts"), 'import type {\n  A,\n} from "../runs/z.js";')).toEqual([
      "server/runs/z.ts",
    ]);
  });

  it("no import runs back up the layers", () => {
    expect(violations(files)).toEqual([]);
  });

  it("catches an import that breaks the rule", () => {
    const bad = [
      { path: join(SERVER, "lifecycle/bad.ts"), text: 'import { triggerBatch } from "../batches/trigger.js";' },
      { path: join(SERVER, "lifecycle/worse.ts"), text: 'import { x } from "../queue/worker-ops.js";' },
      { path: join(SERVER, "runs/bad.ts"), text: 'import type { Y } from "../batches/create.js";' },
      { path: join(SERVER, "lifecycle/fine.ts"), text: 'import { appendEvents } from "../events/outbox.js";' },
      { path: join(SERVER, "lifecycle/counts.ts"), text: 'import { runsCreated } from "../observability/metrics.js";' },
      {
        path: join(SERVER, "lifecycle/logs.ts"),
        text: 'import { logRunFailures } from "../observability/run-failures.js";',
      },
      { path: join(SERVER, "observability/up.ts"), text: 'import { sweep } from "../lifecycle/sweeps.js";' },
    ];
    expect(violations(bad)).toEqual([
      "server/lifecycle/bad.ts -> server/batches/trigger.ts",
      "server/lifecycle/worse.ts -> server/queue/worker-ops.ts",
      "server/runs/bad.ts -> server/batches/create.ts",
      "server/lifecycle/logs.ts -> server/observability/run-failures.ts",
      "server/observability/up.ts -> server/lifecycle/sweeps.ts",
    ]);
  });
});
