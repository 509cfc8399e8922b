/**
 * `npx tsx bench/profile-summary.ts <file.cpuprofile> [rows]`: where a CPU profile's time went, as
 * text: the functions with the most self time, the functions with the most total time (their
 * callees included), and total time by package or source file (node_modules packages by name,
 * Node's internals by module, the project's files by path).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) throw new Error("usage: bench/profile-summary.ts <file.cpuprofile> [rows]");
const rows = Number(process.argv[3] ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);

/** Microseconds per node: each sample is charged the time until the next one. */
const timeOf = new Map<number, number>();
for (const [i, id] of profile.samples.entries()) timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
const total = [...timeOf.values()].reduce((a, b) => a + b, 0);

const where = (url: string) =>
  url
    .replace(/^file:\/\/.*?\/node_modules\//, "")
    .replace(/^file:\/\/\/.*?\/(?=(bench|client|server|shared|db|test)\/)/, "");
const functionKey = ({ callFrame: c }: ProfileNode) =>
  `${c.functionName || "(anonymous)"} ${c.url ? `${where(c.url)}:${c.lineNumber + 1}` : ""}`.trim();
const packageKey = ({ callFrame: c }: ProfileNode) => {
  if (!c.url) return c.functionName.startsWith("(") ? c.functionName : "(native)";
  if (c.url.startsWith("node:")) return c.url;
  return c.url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1] ?? where(c.url);
};

const self = new Map<string, number>();
const totalByFunction = new Map<string, number>();
const totalByPackage = new Map<string, number>();
for (const [id, us] of timeOf) {
  const key = functionKey(nodes.get(id)!);
  self.set(key, (self.get(key) ?? 0) + us);
  // Each sample counts once per function and once per package on its stack (recursion included).
  const functions = new Set<string>();
  const packages = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    functions.add(functionKey(nodes.get(at)!));
    packages.add(packageKey(nodes.get(at)!));
  }
  for (const f of functions) totalByFunction.set(f, (totalByFunction.get(f) ?? 0) + us);
  for (const p of packages) totalByPackage.set(p, (totalByPackage.get(p) ?? 0) + us);
}

const print = (title: string, values: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [key, us] of [...values].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${key}`);
  }
};
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
print("self time", self);
print("total time by function", totalByFunction);
print("total time by package or file", totalByPackage);
