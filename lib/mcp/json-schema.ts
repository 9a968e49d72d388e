// Tool arguments checked against the tool's JSON Schema with Ajv, before a call leaves Poke (docs/security.md
// §16). Dialects: 2020-12 (the MCP default when `$schema` is absent), 2019-09 and draft-07, chosen by `$schema`;
// formats from ajv-formats. The schema is never rewritten for anyone else: what agents and pages see is what
// the server declared. Only the private copy compiled here loses `$ref`s that point outside the document
// (they are never fetched: that part is left to the server).
//
// A server's schema is untrusted input. It is measured before compiling (size, depth, number of subschemas),
// `pattern`s run on a linear-time engine (re2js) instead of the backtracking RegExp, and a schema that is not
// small by construction is first compiled on a worker thread against a time budget: one that does not compile
// within it (or within the worker's memory) is never compiled on the main thread. Whatever cannot be compiled
// within those bounds is "not validated here": the call goes through and the server is the judge.
import "server-only";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { ErrorObject, ValidateFunction } from "ajv";
import AjvDraft7 from "ajv";
import Ajv2019 from "ajv/dist/2019";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { RE2JS } from "re2js";
import { measureJson } from "@/lib/limits/json-shape";
import { log } from "@/lib/log";
import { joinPath, type SchemaCheck, type SchemaIssue } from "@/lib/mcp/schema-form";
import { processState, TtlCache } from "@/lib/state";

export { describeIssues, type SchemaCheck, type SchemaIssue } from "@/lib/mcp/schema-form";

/** Bounds on a schema before it is compiled: past them compiling could hold the event loop too long. */
export const SCHEMA_LIMITS = {
  maxBytes: 128 * 1024,
  maxDepth: 64,
  maxSubschemas: 2_000,
  /** Strings longer than this skip `pattern` (the server checks them); re2js is linear but not free. */
  maxPatternInput: 64 * 1024,
  /** Below these a schema is compiled at once on the main thread: it can't be slow to compile. */
  smallParts: 64,
  smallDepth: 8,
  smallBytes: 16 * 1024,
} as const;

/**
 * How long a schema may take to compile on the vetting worker (its start-up not counted). A schema that
 * compiled within it there compiles in about as long here, once per definition; one that did not is "not
 * validated here". `setSchemaCompileBudget` changes it (tests set it tiny).
 */
const compileBudget = { ms: 500 };
export function setSchemaCompileBudget(ms: number): number {
  const before = compileBudget.ms;
  compileBudget.ms = ms;
  return before;
}

const MAX_ISSUES = 50;

type Dialect = "2020-12" | "2019-09" | "draft-07";
const DIALECTS: Record<string, Dialect> = {
  "json-schema.org/draft/2020-12/schema": "2020-12",
  "json-schema.org/draft/2019-09/schema": "2019-09",
  "json-schema.org/draft-07/schema": "draft-07",
};

function dialectOf(schema: Record<string, unknown>): Dialect | { unsupported: string } {
  const id = schema.$schema;
  if (id === undefined) return "2020-12";
  if (typeof id !== "string") return { unsupported: "a non-string $schema" };
  const key = id.replace(/^https?:\/\//, "").replace(/#$/, "");
  return DIALECTS[key] ?? { unsupported: `the dialect ${JSON.stringify(id.slice(0, 100))}` };
}

// ---------------------------------------------------------------------------------------------------------
// Patterns: RE2 semantics in linear time. A pattern RE2 can't express (lookaround, backreferences) is skipped.

function safeRegExp(pattern: string, flags: string) {
  let re: RE2JS | null = null;
  try {
    re = RE2JS.compile(pattern, flags.includes("i") ? RE2JS.CASE_INSENSITIVE : 0);
  } catch {
    // not expressible in RE2: left to the server
  }
  return {
    test: (s: string) => re === null || s.length > SCHEMA_LIMITS.maxPatternInput || re.test(s),
    // Ajv keys compiled patterns by their string form.
    toString: () => `re2:${flags}:${pattern}`,
  };
}
safeRegExp.code = "re2js";

// ---------------------------------------------------------------------------------------------------------
// Ajv instances: one per dialect, replaced after a number of compiles (an instance keeps a little of every
// schema it compiled). Compiled validators are kept by schema hash in a bounded cache.

type AjvLike = InstanceType<typeof Ajv2020>;
const COMPILES_PER_INSTANCE = 200;

/** The compile options, as sent to the vetting worker too (which adds the same re2js `regExp`). */
const AJV_OPTIONS = {
  strict: false,
  allErrors: true,
  messages: false,
  validateSchema: false,
  addUsedSchema: false,
  logger: false as const,
  inlineRefs: 8,
  code: { optimize: false },
};

function newAjv(dialect: Dialect): AjvLike {
  const opts = { ...AJV_OPTIONS, code: { ...AJV_OPTIONS.code, regExp: safeRegExp } };
  const ajv =
    dialect === "draft-07"
      ? new AjvDraft7(opts)
      : dialect === "2019-09"
        ? new Ajv2019(opts)
        : new Ajv2020(opts);
  addFormats(ajv);
  return ajv as AjvLike;
}

/** Validates schemas against their meta-schema: one long-lived instance per dialect. */
function metaAjv(dialect: Dialect): AjvLike {
  return processState(`jsonSchemaMeta:${dialect}`, () => {
    const opts = { strict: false, allErrors: false, logger: false as const };
    return (
      dialect === "draft-07"
        ? new AjvDraft7(opts)
        : dialect === "2019-09"
          ? new Ajv2019(opts)
          : new Ajv2020(opts)
    ) as AjvLike;
  });
}

const META_IDS: Record<Dialect, string> = {
  "2020-12": "https://json-schema.org/draft/2020-12/schema",
  "2019-09": "https://json-schema.org/draft/2019-09/schema",
  "draft-07": "http://json-schema.org/draft-07/schema",
};

type Compiled = { validate: ValidateFunction } | { unchecked: string };

const compilers = processState(
  "jsonSchemaCompilers",
  () => new Map<Dialect, { ajv: AjvLike; used: number }>(),
);
const compiledByKey = processState(
  "jsonSchemaValidators",
  () => new TtlCache<string, Compiled>({ ttlMs: 60 * 60_000, max: 500 }),
);
const compiledByObject = new WeakMap<object, Compiled>();

function compilerFor(dialect: Dialect): AjvLike {
  let c = compilers.get(dialect);
  if (!c || c.used >= COMPILES_PER_INSTANCE) {
    c = { ajv: newAjv(dialect), used: 0 };
    compilers.set(dialect, c);
  }
  c.used++;
  return c.ajv;
}

/**
 * How a schema breaks the compile bounds, its `$ref`s that leave the document, and whether it is small by
 * construction (few parts, shallow, short, no patterns): such a schema compiles quickly, without vetting.
 */
function survey(schema: object): { problem?: string; remoteRefs: number; small: boolean } {
  const measured = measureJson(schema, {
    maxBytes: SCHEMA_LIMITS.maxBytes,
    maxDepth: SCHEMA_LIMITS.maxDepth,
  });
  if (measured.problem)
    return { problem: `the schema ${measured.problem.text}`, remoteRefs: 0, small: false };
  let objects = 0;
  let remoteRefs = 0;
  let patterns = false;
  const stack: unknown[] = [schema];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== "object") continue;
    if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    }
    if (++objects > SCHEMA_LIMITS.maxSubschemas) {
      const problem = `the schema has more than ${SCHEMA_LIMITS.maxSubschemas} parts`;
      return { problem, remoteRefs, small: false };
    }
    const o = v as Record<string, unknown>;
    if (typeof o.$ref === "string" && !o.$ref.startsWith("#")) remoteRefs++;
    if ("pattern" in o || "patternProperties" in o) patterns = true;
    for (const k in o) stack.push(o[k]);
  }
  const small =
    objects <= SCHEMA_LIMITS.smallParts &&
    measured.depth <= SCHEMA_LIMITS.smallDepth &&
    measured.bytes <= SCHEMA_LIMITS.smallBytes &&
    !patterns;
  return { remoteRefs, small };
}

/**
 * The compile copy without `$ref`s that leave the document: they are never fetched (docs/security.md §16), so
 * that part of the arguments is left to the server. A `$ref` that names an `$id` of this same document stays.
 */
function withoutRemoteRefs(schema: Record<string, unknown>): Record<string, unknown> {
  const base = "poke-schema://root/";
  const ids = new Set<string>();
  const resolve = (ref: string, against: string) => {
    try {
      const u = new URL(ref, against);
      u.hash = "";
      return u.href;
    } catch {
      return null;
    }
  };
  const collect = (v: unknown, at: string) => {
    if (v === null || typeof v !== "object") return;
    if (Array.isArray(v)) return v.forEach((x) => collect(x, at));
    const o = v as Record<string, unknown>;
    let here = at;
    if (typeof o.$id === "string") {
      here = resolve(o.$id, at) ?? at;
      ids.add(here);
    }
    for (const k in o) collect(o[k], here);
  };
  collect(schema, base);
  ids.add(resolve("", base)!);
  const strip = (v: unknown, at: string): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) return v.map((x) => strip(x, at));
    const o = v as Record<string, unknown>;
    const here = typeof o.$id === "string" ? (resolve(o.$id, at) ?? at) : at;
    const out: Record<string, unknown> = {};
    for (const k in o) {
      if (k === "$ref" && typeof o.$ref === "string" && !o.$ref.startsWith("#")) {
        const target = resolve(o.$ref, here);
        if (!target || !ids.has(target)) continue;
      }
      out[k] = strip(o[k], here);
    }
    return out;
  };
  return strip(schema, base) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------------
// The vetting worker: one thread, started on first need and kept (unref'd, so it never holds the process
// open), compiles one schema at a time with the same Ajv options. Past the budget (or its memory) it is
// terminated, mid-compile, and the next schema starts a new one. Its start-up is not counted: the clock
// starts when it has loaded Ajv.

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const req = require("node:module").createRequire(workerData.base);
const Ajv = { "draft-07": req("ajv").default, "2019-09": req("ajv/dist/2019").default, "2020-12": req("ajv/dist/2020").default };
const addFormats = req("ajv-formats").default;
const { RE2JS } = req("re2js");
function regExp(pattern, flags) {
  let re = null;
  try { re = RE2JS.compile(pattern, flags.includes("i") ? RE2JS.CASE_INSENSITIVE : 0); } catch {}
  return { test: (s) => re === null || re.test(s), toString: () => "re2:" + flags + ":" + pattern };
}
regExp.code = "re2js";
const instances = {};
parentPort.on("message", ({ id, dialect, schema }) => {
  if (!instances[dialect] || instances[dialect].used >= workerData.compilesPerInstance) {
    const ajv = new Ajv[dialect]({ ...workerData.options, code: { ...workerData.options.code, regExp } });
    addFormats(ajv);
    instances[dialect] = { ajv, used: 0 };
  }
  instances[dialect].used++;
  const ajv = instances[dialect].ajv;
  try {
    ajv.compile(schema);
    parentPort.postMessage({ id, ok: true });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err).split("\\n")[0].slice(0, 200) });
  } finally {
    ajv.removeSchema(schema);
  }
});
parentPort.postMessage({ ready: true });
`;

type Verdict = { ok: true } | { error: string } | { slow: string } | { unavailable: true };
type Job = { id: number; dialect: Dialect; schema: object; done: (v: Verdict) => void };

const vetting = processState("jsonSchemaVetting", () => ({
  worker: null as Worker | null,
  ready: false,
  queue: [] as Job[],
  current: null as (Job & { timer?: NodeJS.Timeout }) | null,
  nextId: 1,
  warned: false,
}));

function startWorker(): Worker {
  const w = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      base: join(process.cwd(), "package.json"),
      options: AJV_OPTIONS,
      compilesPerInstance: COMPILES_PER_INSTANCE,
    },
    resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 },
  });
  w.unref();
  // A worker that can't load Ajv in this long (a machine starved of CPU) counts as unavailable.
  const startup = setTimeout(() => {
    if (vetting.worker === w && !vetting.ready) gone(new Error("not ready within 30 s"), true);
  }, 30_000).unref();
  w.on("message", (m: { ready?: true; id?: number; ok?: true; error?: string }) => {
    if (vetting.worker !== w) return;
    if (m.ready) {
      clearTimeout(startup);
      vetting.ready = true;
      return pump();
    }
    const job = vetting.current;
    if (!job || job.id !== m.id) return;
    clearTimeout(job.timer);
    vetting.current = null;
    job.done(m.ok ? { ok: true } : { error: m.error ?? "unknown error" });
    pump();
  });
  const gone = (err?: Error, terminate = false) => {
    if (vetting.worker !== w) return;
    clearTimeout(startup);
    if (terminate) void w.terminate();
    const wasReady = vetting.ready;
    vetting.worker = null;
    vetting.ready = false;
    const job = vetting.current;
    vetting.current = null;
    clearTimeout(job?.timer);
    if (!wasReady) {
      // The worker could not start (no Ajv to load beside the app?): schemas are compiled here, bounded by
      // size only, rather than never validated.
      if (!vetting.warned) log.warn("JSON Schema vetting worker unavailable", err);
      vetting.warned = true;
      for (const j of vetting.queue.splice(0)) j.done({ unavailable: true });
      return;
    }
    const oom = (err as { code?: string } | undefined)?.code === "ERR_WORKER_OUT_OF_MEMORY";
    job?.done({ slow: oom ? "the schema needs too much memory to compile" : "compiling the schema failed" });
    pump();
  };
  w.on("error", gone);
  w.on("exit", () => gone());
  return w;
}

function pump() {
  if (vetting.current || !vetting.queue.length) return;
  if (!vetting.worker) {
    vetting.worker = startWorker();
    return; // its "ready" pumps again
  }
  if (!vetting.ready) return;
  const job = vetting.queue.shift()!;
  const w = vetting.worker;
  const budget = compileBudget.ms;
  vetting.current = {
    ...job,
    timer: setTimeout(() => {
      if (vetting.current?.id !== job.id) return;
      vetting.current = null;
      vetting.worker = null;
      vetting.ready = false;
      void w.terminate();
      job.done({ slow: `compiling the schema took longer than ${budget} ms` });
      pump();
    }, budget).unref(),
  };
  w.postMessage({ id: job.id, dialect: job.dialect, schema: job.schema });
}

function vet(dialect: Dialect, schema: object): Promise<Verdict> {
  return new Promise((done) => {
    vetting.queue.push({ id: vetting.nextId++, dialect, schema, done });
    pump();
  });
}

// ---------------------------------------------------------------------------------------------------------

async function compile(schema: Record<string, unknown> | boolean): Promise<Compiled> {
  if (typeof schema === "boolean") {
    return {
      validate: Object.assign((v: unknown) => (void v, schema), { errors: null }) as ValidateFunction,
    };
  }
  const dialect = dialectOf(schema);
  if (typeof dialect !== "string") return { unchecked: `the schema uses ${dialect.unsupported}` };
  const { problem, remoteRefs, small } = survey(schema);
  if (problem) return { unchecked: problem };
  const meta = metaAjv(dialect);
  const metaValidate = meta.getSchema(META_IDS[dialect]);
  if (metaValidate && !metaValidate(schema)) {
    const e = metaValidate.errors?.[0];
    return {
      unchecked: `the schema is not valid JSON Schema (${e?.instancePath || "/"} ${e?.message ?? ""})`,
    };
  }
  const copy = remoteRefs ? withoutRemoteRefs(schema) : schema;
  if (!small) {
    const verdict = await vet(dialect, copy);
    if ("slow" in verdict) return { unchecked: verdict.slow };
    if ("error" in verdict) return { unchecked: `the schema could not be compiled (${verdict.error})` };
  }
  const ajv = compilerFor(dialect);
  try {
    return { validate: ajv.compile(copy) };
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0].slice(0, 200) : "unknown error";
    return { unchecked: `the schema could not be compiled (${why})` };
  } finally {
    ajv.removeSchema(copy);
  }
}

/** Compiles in flight by cache key: concurrent first calls of one definition share one compile. */
const compiling = new Map<string, Promise<Compiled>>();

async function compiled(schema: Record<string, unknown> | boolean, key?: string): Promise<Compiled> {
  if (typeof schema === "boolean") return compile(schema);
  const hit = compiledByObject.get(schema);
  if (hit) return hit;
  // Measured before anything serializes it: JSON.stringify of a hostile schema could overflow the stack.
  const measured = measureJson(schema, {
    maxBytes: SCHEMA_LIMITS.maxBytes,
    maxDepth: SCHEMA_LIMITS.maxDepth,
  });
  if (measured.problem) {
    const c = { unchecked: `the schema ${measured.problem.text}` };
    compiledByObject.set(schema, c);
    return c;
  }
  const k = key
    ? `definition:${key}`
    : `schema:${createHash("sha256").update(JSON.stringify(schema)).digest("base64url")}`;
  let c = compiledByKey.get(k);
  if (c)
    compiledByKey.set(k, c); // most recently used goes last
  else {
    let pending = compiling.get(k);
    if (!pending) {
      pending = compile(schema).finally(() => compiling.delete(k));
      compiling.set(k, pending);
    }
    c = await pending;
    compiledByKey.set(k, c);
  }
  compiledByObject.set(schema, c);
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Readable issues from Ajv's errors: "count must be ≤ 10", "address.street is required".

/** `/a/0/b` in `value` → `a[0].b`; keys that aren't plain words are quoted: `a["x.y"]`. */
function readablePath(pointer: string, value: unknown, extra?: string): string {
  const parts = pointer
    ? pointer
        .slice(1)
        .split("/")
        .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    : [];
  if (extra !== undefined) parts.push(extra);
  let out = "";
  let cur: unknown = value;
  for (const p of parts) {
    out = joinPath(out, Array.isArray(cur) && /^\d+$/.test(p) ? Number(p) : p);
    cur = cur !== null && typeof cur === "object" ? (cur as Record<string, unknown>)[p] : undefined;
  }
  return out || "(root)";
}

function at(value: unknown, pointer: string): unknown {
  let cur = value;
  if (!pointer) return cur;
  for (const raw of pointer.slice(1).split("/")) {
    const p = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    cur = cur !== null && typeof cur === "object" ? (cur as Record<string, unknown>)[p] : undefined;
  }
  return cur;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

const show = (v: unknown, max = 60) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
};
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function message(e: ErrorObject, value: unknown): SchemaIssue {
  const p = e.params as Record<string, unknown>;
  const here = readablePath(e.instancePath, value);
  const under = (key: unknown) => readablePath(e.instancePath, value, String(key));
  const m = (text: string, path = here): SchemaIssue => ({ path, message: text });
  switch (e.keyword) {
    case "required":
      return m("is required", under(p.missingProperty));
    case "dependentRequired":
    case "dependencies":
      return m(`is required when ${String(p.property)} is present`, under(p.missingProperty));
    case "type": {
      const types = String(p.type).split(",").join(" or ");
      return m(`must be ${types} (got ${typeName(at(value, e.instancePath))})`);
    }
    case "minimum":
      return m(`must be ≥ ${p.limit}`);
    case "maximum":
      return m(`must be ≤ ${p.limit}`);
    case "exclusiveMinimum":
      return m(`must be > ${p.limit}`);
    case "exclusiveMaximum":
      return m(`must be < ${p.limit}`);
    case "multipleOf":
      return m(`must be a multiple of ${p.multipleOf}`);
    case "minLength":
      return m(`must be at least ${plural(Number(p.limit), "character")}`);
    case "maxLength":
      return m(`must be at most ${plural(Number(p.limit), "character")}`);
    case "pattern":
      return m(`must match the pattern ${show(p.pattern, 80)}`);
    case "format":
      return m(`must be a valid ${String(p.format)}`);
    case "enum": {
      const vals = (p.allowedValues as unknown[]) ?? [];
      const listed = vals.slice(0, 10).map((v) => show(v, 40));
      return m(`must be one of ${listed.join(", ")}${vals.length > 10 ? ", …" : ""}`);
    }
    case "const":
      return m(`must be ${show(p.allowedValue)}`);
    case "minItems":
      return m(`must have at least ${plural(Number(p.limit), "item")}`);
    case "maxItems":
    case "items":
    case "additionalItems":
    case "unevaluatedItems":
      return m(`must have at most ${plural(Number(p.limit), "item")}`);
    case "uniqueItems":
      return m(`must not contain duplicates (items ${p.j} and ${p.i} are equal)`);
    case "contains":
      return m(
        p.maxContains !== undefined && p.minContains === undefined
          ? `must contain at most ${plural(Number(p.maxContains), "matching item")}`
          : `must contain at least ${plural(Number(p.minContains ?? 1), "matching item")}`,
      );
    case "minProperties":
      return m(`must have at least ${plural(Number(p.limit), "property", "properties")}`);
    case "maxProperties":
      return m(`must have at most ${plural(Number(p.limit), "property", "properties")}`);
    case "additionalProperties":
      return m("is not an allowed property", under(p.additionalProperty));
    case "unevaluatedProperties":
      return m("is not an allowed property", under(p.unevaluatedProperty));
    case "propertyNames":
      return m(`has a property name that is not allowed: ${show(p.propertyName, 40)}`);
    case "anyOf":
      return m("does not match any allowed shape");
    case "oneOf":
      return m(
        Array.isArray(p.passingSchemas)
          ? `must match exactly one allowed shape (it matches shapes ${p.passingSchemas.map((i) => Number(i) + 1).join(" and ")})`
          : "must match exactly one allowed shape (it matches none)",
      );
    case "not":
      return m("matches a shape that is not allowed");
    case "if":
      return m(`must match the "${String(p.failingKeyword)}" shape`);
    case "false schema":
      return m("is not allowed");
    default:
      return m(`does not satisfy "${e.keyword}"`);
  }
}

/**
 * Ajv's errors as issues. Inside a failed anyOf/oneOf the branches' own errors are noise (each branch fails
 * for its own reason), so one line stands for them, naming the types when only types differ; but when the
 * value's discriminator (a `const` property) or type picks out one branch, that branch's errors are the news.
 */
function toIssues(errors: ErrorObject[], value: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const seen = new Set<string>();
  const add = (issue: SchemaIssue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key) || issues.length >= MAX_ISSUES) return;
    seen.add(key);
    issues.push(issue);
  };
  const collect = (list: ErrorObject[]) => {
    const failed = list.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf");
    for (const e of list) {
      if (failed.some((c) => branchOf(e, c))) continue;
      if (e.keyword === "anyOf" || e.keyword === "oneOf") {
        const branches = errors.filter((x) => branchOf(x, e));
        const intended = intendedBranch(e, branches);
        if (intended) {
          collect(intended);
          continue;
        }
        const onlyTypes =
          branches.length > 0 &&
          branches.every((x) => x.keyword === "type" && x.instancePath === e.instancePath) &&
          (e.params as { passingSchemas?: unknown }).passingSchemas == null;
        const types = [...new Set(branches.flatMap((x) => String(x.params.type).split(",")))];
        add(
          onlyTypes
            ? {
                path: readablePath(e.instancePath, value),
                message: `must be ${types.join(" or ")} (got ${typeName(at(value, e.instancePath))})`,
              }
            : message(e, value),
        );
      } else if (e.keyword === "if" && errors.some((x) => branchOf(x, e))) {
        continue; // the then/else errors say what is missing
      } else add(message(e, value));
    }
  };
  collect(errors);
  return issues;
}

/**
 * The one branch of a failed anyOf/oneOf the value was meant for: the only branch whose errors include no
 * type mismatch of the value itself and no wrong `const`/`enum` in a direct property (a discriminator).
 */
function intendedBranch(c: ErrorObject, branchErrors: ErrorObject[]): ErrorObject[] | null {
  if ((c.params as { passingSchemas?: unknown }).passingSchemas != null) return null;
  const byBranch = new Map<string, ErrorObject[]>();
  for (const e of branchErrors) {
    const i = e.schemaPath.slice(c.schemaPath.length + 1).split("/")[0];
    byBranch.set(i, [...(byBranch.get(i) ?? []), e]);
  }
  const isDirectChild = (p: string) =>
    p.startsWith(`${c.instancePath}/`) && !p.slice(c.instancePath.length + 1).includes("/");
  const fits = [...byBranch.values()].filter(
    (errs) =>
      !errs.some(
        (e) =>
          (e.keyword === "type" && e.instancePath === c.instancePath) ||
          ((e.keyword === "const" || e.keyword === "enum") && isDirectChild(e.instancePath)),
      ),
  );
  return fits.length === 1 && byBranch.size > 1 ? fits[0] : null;
}

/** True when `e` comes from inside a branch of the combinator `c` (its schema path continues c's). */
function branchOf(e: ErrorObject, c: ErrorObject): boolean {
  if (e === c) return false;
  const base = c.schemaPath.slice(0, -c.keyword.length); // "#/properties/x/"
  if (c.keyword === "if")
    return e.schemaPath.startsWith(`${base}then/`) || e.schemaPath.startsWith(`${base}else/`);
  return e.schemaPath.startsWith(`${c.schemaPath}/`);
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Checks `value` against a tool's JSON Schema. `key` names the schema for the validator cache: the tool's
 * definition hash, which covers the schema's exact text (so equal hashes mean equal schemas) and saves
 * hashing the schema on each first use; without it the schema's own hash is used. The first check of a
 * schema that is not small waits for its vetting compile (off the main thread); later ones hit the cache.
 */
export async function checkJsonSchema(schema: unknown, value: unknown, key?: string): Promise<SchemaCheck> {
  if (typeof schema !== "boolean" && (schema === null || typeof schema !== "object" || Array.isArray(schema)))
    return { status: "unchecked", reason: "the tool declares no schema object" };
  const c = await compiled(schema as Record<string, unknown> | boolean, key);
  if ("unchecked" in c) return { status: "unchecked", reason: c.unchecked };
  try {
    if (c.validate(value)) return { status: "valid" };
  } catch (err) {
    const why = err instanceof Error ? err.message.slice(0, 200) : "unknown error";
    return { status: "unchecked", reason: `validation failed (${why})` };
  }
  return { status: "invalid", issues: toIssues(c.validate.errors ?? [], value) };
}

/** The issues of `value` under the schema; empty when it is valid or could not be checked here. */
export async function validateJsonSchema(
  schema: unknown,
  value: unknown,
  key?: string,
): Promise<SchemaIssue[]> {
  const r = await checkJsonSchema(schema, value, key);
  return r.status === "invalid" ? r.issues : [];
}
