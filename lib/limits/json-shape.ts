// How deep and how large a JSON value is, measured without recursion (docs/security.md §14: JSON nested at
// most 64 levels deep). V8 parses deeply nested JSON text iteratively, but JSON.stringify, structuredClone,
// the JSON column writes of the database driver and React's serialization all recurse and overflow the stack
// somewhere past a few thousand levels, turning one hostile value into a 500, an empty response or a page that
// never updates. Every value a server sends is measured here, once, before anything serializes it.
import { AppError } from "@/lib/errors";

export const MAX_JSON_DEPTH = 64;
/** The per-message cap of docs/security.md §14: a value larger than a message can carry is not a value we take. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

export type JsonLimits = { maxDepth: number; maxBytes: number };
const DEFAULTS: JsonLimits = { maxDepth: MAX_JSON_DEPTH, maxBytes: MAX_JSON_BYTES };

/** Why a value breaks the limits, worded to follow its name ("… is nested more than 64 levels deep"). */
export type JsonProblem = { code: "too_deep" | "too_large"; text: string };

/**
 * Depth counts containers: a scalar is 0 levels deep, `{}` and `[]` are 1, `{"a":[1]}` is 2. Size is the
 * length of the value's JSON text in UTF-16 code units, counting each string without its escapes (close to
 * what JSON.stringify produces; never more). The walk stops at the first limit passed, so measuring a hostile
 * value costs at most the limits' worth of work.
 */
export function measureJson(
  value: unknown,
  limits: Partial<JsonLimits> = {},
): { depth: number; bytes: number; problem?: JsonProblem } {
  const { maxDepth, maxBytes } = { ...DEFAULTS, ...limits };
  // Parallel stacks of values and their depths: no array per entry.
  const values: unknown[] = [value];
  const depths: number[] = [0];
  let deepest = 0;
  let bytes = 0;
  while (values.length) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (v === null || v === undefined) bytes += 4;
    else if (typeof v === "string") bytes += v.length + 2;
    else if (typeof v === "number") bytes += Number.isFinite(v) ? String(v).length : 4;
    else if (typeof v === "boolean") bytes += v ? 4 : 5;
    else if (typeof v === "object") {
      const level = depth + 1;
      if (level > deepest) deepest = level;
      if (level > maxDepth) {
        return {
          depth: level,
          bytes,
          problem: { code: "too_deep", text: `is nested more than ${maxDepth} levels deep` },
        };
      }
      if (Array.isArray(v)) {
        bytes += 2 + Math.max(0, v.length - 1);
        for (let i = v.length - 1; i >= 0; i--) {
          values.push(v[i]);
          depths.push(level);
        }
      } else {
        const keys = Object.keys(v);
        bytes += 2 + Math.max(0, keys.length - 1);
        for (let i = keys.length - 1; i >= 0; i--) {
          bytes += keys[i].length + 3; // "key":
          values.push((v as Record<string, unknown>)[keys[i]]);
          depths.push(level);
        }
      }
    }
    if (bytes > maxBytes) {
      return {
        depth: deepest,
        bytes,
        problem: { code: "too_large", text: `is larger than ${mib(maxBytes)}` },
      };
    }
  }
  return { depth: deepest, bytes };
}

/** What is wrong with `value` under the limits, or undefined when it is within them. */
export function jsonProblem(value: unknown, limits?: Partial<JsonLimits>): JsonProblem | undefined {
  return measureJson(value, limits).problem;
}

/**
 * Throws AppError too_deep / too_large (502: a server sent it) naming `what`, e.g. `The result of "search"`.
 * Nothing else about the value goes into the message: it may be huge.
 */
export function assertJsonShape(value: unknown, what: string, limits?: Partial<JsonLimits>): void {
  const problem = jsonProblem(value, limits);
  if (problem) throw new AppError(problem.code, `${what} ${problem.text}; Poke refuses it.`, 502);
}

function mib(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round((n / 1024 / 1024) * 10) / 10} MiB` : `${Math.ceil(n / 1024)} KiB`;
}
