import superjson from "superjson";

/**
 * The tRPC transformer of Salvo's router and of every client: SuperJSON, with users' data made
 * safe for it. SuperJSON refuses to write an object with a key named `__proto__`, `constructor` or
 * `prototype` (its walker throws) and to read annotations whose path names one, yet such keys are
 * ordinary data in a payload, metadata or output (`{"form":{"constructor":"Bob"}}`). So on the
 * wire such a key is escaped: one more `~` in front of it, for the bare name and for the name
 * after any run of `~` (`constructor` -> `~constructor`, `~constructor` -> `~~constructor`), which
 * reading takes off again. A raw JSON caller of /trpc sees and may send the escaped form; a bare
 * `__proto__` it sends stays data too.
 *
 * Values are rebuilt only when they hold such a key (a read-only scan first), and rebuilt objects
 * get `__proto__` as an own property (defineProperty), never through the setter that would change
 * their prototype.
 */
export const dataTransformer = {
  serialize: (value: unknown) => superjson.serialize(escapeDataKeys(value)),
  // In place: tRPC hands over JSON it has just parsed, so no copy is needed (SuperJSON's copy
  // assigns keys, which would turn a `__proto__` key into a prototype).
  deserialize: (payload: unknown) => unescapeDataKeys(fromSuperJson(payload)),
  /**
   * `deserialize(JSON.parse(text))` for a reader that has the text (client/sse-link.ts): a key
   * can only start with `~` if the text holds a `~` or a `\u` escape, so without either the scan
   * for escaped keys is skipped (about 5 % of a subscriber process's CPU per message).
   */
  parse: (text: string) => {
    const value = fromSuperJson(JSON.parse(text));
    return text.includes("~") || text.includes("\\u") ? unescapeDataKeys(value) : value;
  },
};

interface SuperJsonWire {
  json: unknown;
  meta?: { values?: unknown; referentialEqualities?: unknown; v?: number };
}

/** A path segment SuperJSON's own reader refuses: such a path is left to it. */
const REFUSED_SEGMENT = /(?:^|\.)(?:__proto__|constructor|prototype)(?:\.|$)/;

/**
 * `superjson.deserialize` in place, with a shortcut for what live messages carry: annotations
 * that are all Dates at plain paths (`{"batch.updatedAt": ["Date"]}`, no escaped dot), set here
 * directly instead of through SuperJSON's tree walk and path parser (about 7 % of a subscriber
 * process's CPU per message once the subscription link's own overhead was gone). Anything else
 * goes to SuperJSON.
 */
function fromSuperJson(payload: unknown): unknown {
  const { json, meta } = payload as SuperJsonWire;
  if (meta === undefined) return json;
  const paths = datePaths(meta);
  if (!paths) return superjson.deserialize(payload as never, { inPlace: true });
  for (const path of paths) {
    const keys = path.split(".");
    let parent: unknown = json;
    for (let i = 0; i < keys.length - 1 && isJsonContainer(parent); i++) parent = parent[keys[i]!];
    // A path through something JSON.parse does not make (not one Salvo writes): SuperJSON decides
    // (Dates already set here are read again as the same Dates).
    if (!isJsonContainer(parent)) return superjson.deserialize(payload as never, { inPlace: true });
    const last = keys[keys.length - 1]!;
    parent[last] = new Date(parent[last] as string);
  }
  return json;
}

const isJsonContainer = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !(value instanceof Date);

/** The paths of `meta` if it annotates Dates only, each at a path that splits on its dots as it is. */
function datePaths(meta: NonNullable<SuperJsonWire["meta"]>): string[] | undefined {
  const values = meta.values;
  if (meta.referentialEqualities !== undefined || typeof values !== "object" || values === null) return undefined;
  if (Array.isArray(values)) return undefined;
  const paths = Object.keys(values);
  for (const path of paths) {
    const annotation = (values as Record<string, unknown>)[path];
    if (!Array.isArray(annotation) || annotation.length !== 1 || annotation[0] !== "Date") return undefined;
    if (path.includes("\\") || REFUSED_SEGMENT.test(path)) return undefined;
  }
  return paths;
}

const RESERVED = /^~*(?:__proto__|constructor|prototype)$/;

/** Whether `value` holds a key SuperJSON refuses to write (through arrays, Maps and Sets). */
export const holdsReservedKeys = (value: unknown) => hasReservedKey(value, (key) => RESERVED.test(key));

/** Adds one `~` to every key SuperJSON would refuse (and to their escaped look-alikes). */
export function escapeDataKeys(value: unknown): unknown {
  return holdsReservedKeys(value) ? rebuild(value, (key) => (RESERVED.test(key) ? `~${key}` : key)) : value;
}

/** Takes the `~` `escapeDataKeys` added off again. */
export function unescapeDataKeys(value: unknown): unknown {
  const escaped = (key: string) => key.charCodeAt(0) === 0x7e && RESERVED.test(key);
  return hasReservedKey(value, escaped) ? rebuild(value, (key) => (escaped(key) ? key.slice(1) : key)) : value;
}

/** Whether any plain object inside `value` (through arrays, Maps and Sets) has a key `matches`. Iterative: any depth. */
function hasReservedKey(value: unknown, matches: (key: string) => boolean): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    if (Array.isArray(v)) {
      for (const e of v) if (typeof e === "object" && e !== null) stack.push(e);
    } else if (v instanceof Map) for (const [k, e] of v) stack.push(k, e);
    else if (v instanceof Set) for (const e of v) stack.push(e);
    else if (isPlainObject(v)) {
      for (const key of Object.keys(v)) {
        if (matches(key)) return true;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/** A copy of `value` with every plain object's keys renamed; anything that is not a container is kept as it is. */
function rebuild(value: unknown, rename: (key: string) => string): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((e) => rebuild(e, rename));
  if (value instanceof Map) return new Map([...value].map(([k, e]) => [rebuild(k, rename), rebuild(e, rename)]));
  if (value instanceof Set) return new Set([...value].map((e) => rebuild(e, rename)));
  if (!isPlainObject(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(copy, rename(key), {
      value: rebuild((value as Record<string, unknown>)[key], rename),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
