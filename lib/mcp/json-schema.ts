// A small JSON-Schema validator for tool arguments, shared by the engine and the playground. It covers
// the subset tool schemas use; unknown keywords are ignored and remote $refs are never fetched
// (docs/security.md §16). Pure: no imports, safe for client components.

export type SchemaIssue = { path: string; message: string };
type Schema = Record<string, unknown> | boolean;

const MAX_DEPTH = 64;
const MAX_ISSUES = 50;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function matchesType(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  if (t === "number") return actual === "number" || actual === "integer";
  return actual === t;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const pathJoin = (base: string, key: string | number) =>
  typeof key === "number" ? `${base}[${key}]` : base ? `${base}.${key}` : key;

class Validator {
  issues: SchemaIssue[] = [];
  constructor(private root: Schema) {}

  add(path: string, message: string) {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ path: path || "(root)", message });
  }

  resolve(ref: string): Schema | undefined {
    // Only local JSON pointers into the same document.
    if (!ref.startsWith("#")) return undefined;
    let cur: unknown = this.root;
    for (const raw of ref.slice(1).split("/").filter(Boolean)) {
      const part = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
      cur = cur[part];
    }
    return isObject(cur) || typeof cur === "boolean" ? (cur as Schema) : undefined;
  }

  check(schema: Schema, v: unknown, path: string, depth: number): void {
    if (depth > MAX_DEPTH) return this.add(path, "is nested too deeply");
    if (schema === true || schema === undefined) return;
    if (schema === false) return this.add(path, "is not allowed");
    if (!isObject(schema)) return;
    if (typeof schema.$ref === "string") {
      const target = this.resolve(schema.$ref);
      if (target !== undefined) this.check(target, v, path, depth + 1);
    }
    if (!this.checkType(schema, v, path)) return;
    this.checkEnum(schema, v, path);
    this.checkCombinators(schema, v, path, depth);
    if (typeof v === "string") this.checkString(schema, v, path);
    if (typeof v === "number") this.checkNumber(schema, v, path);
    if (Array.isArray(v)) this.checkArray(schema, v, path, depth);
    if (isObject(v)) this.checkObject(schema, v, path, depth);
  }

  checkType(schema: Record<string, unknown>, v: unknown, path: string): boolean {
    const t = schema.type;
    if (t === undefined) return true;
    const types = (Array.isArray(t) ? t : [t]).filter((x): x is string => typeof x === "string");
    if (!types.length || types.some((x) => matchesType(v, x))) return true;
    this.add(path, `must be ${types.join(" or ")} (got ${typeOf(v)})`);
    return false;
  }

  checkEnum(schema: Record<string, unknown>, v: unknown, path: string) {
    if (Array.isArray(schema.enum) && !schema.enum.some((e) => deepEqual(e, v))) {
      this.add(path, `must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
    }
    if ("const" in schema && !deepEqual(schema.const, v))
      this.add(path, `must be ${JSON.stringify(schema.const)}`);
  }

  checkCombinators(schema: Record<string, unknown>, v: unknown, path: string, depth: number) {
    const passes = (s: unknown) => {
      const sub = new Validator(this.root);
      sub.check(s as Schema, v, path, depth + 1);
      return sub.issues.length === 0;
    };
    if (Array.isArray(schema.allOf))
      for (const s of schema.allOf) this.check(s as Schema, v, path, depth + 1);
    if (Array.isArray(schema.anyOf) && !schema.anyOf.some(passes))
      this.add(path, "does not match any allowed shape");
    if (Array.isArray(schema.oneOf) && schema.oneOf.filter(passes).length !== 1) {
      this.add(path, "must match exactly one allowed shape");
    }
    if (schema.not !== undefined && passes(schema.not)) this.add(path, "matches a shape that is not allowed");
  }

  checkString(schema: Record<string, unknown>, v: string, path: string) {
    const len = [...v].length;
    if (typeof schema.minLength === "number" && len < schema.minLength)
      this.add(path, `must be at least ${schema.minLength} characters`);
    if (typeof schema.maxLength === "number" && len > schema.maxLength)
      this.add(path, `must be at most ${schema.maxLength} characters`);
    // `pattern` is deliberately not evaluated: a server-supplied regex could backtrack catastrophically
    // on our event loop (ReDoS). The server validates it.
  }

  checkNumber(schema: Record<string, unknown>, v: number, path: string) {
    const n = (k: string) => (typeof schema[k] === "number" ? (schema[k] as number) : undefined);
    const min = n("minimum");
    const max = n("maximum");
    const xmin = n("exclusiveMinimum");
    const xmax = n("exclusiveMaximum");
    if (min !== undefined && v < min) this.add(path, `must be ≥ ${min}`);
    if (max !== undefined && v > max) this.add(path, `must be ≤ ${max}`);
    if (xmin !== undefined && v <= xmin) this.add(path, `must be > ${xmin}`);
    if (xmax !== undefined && v >= xmax) this.add(path, `must be < ${xmax}`);
    const mult = n("multipleOf");
    if (mult && Math.abs(v / mult - Math.round(v / mult)) > 1e-9)
      this.add(path, `must be a multiple of ${mult}`);
  }

  checkArray(schema: Record<string, unknown>, v: unknown[], path: string, depth: number) {
    if (typeof schema.minItems === "number" && v.length < schema.minItems)
      this.add(path, `must have at least ${schema.minItems} items`);
    if (typeof schema.maxItems === "number" && v.length > schema.maxItems)
      this.add(path, `must have at most ${schema.maxItems} items`);
    if (schema.uniqueItems === true && v.some((x, i) => v.findIndex((y) => deepEqual(x, y)) !== i))
      this.add(path, "must not contain duplicates");
    const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
    v.forEach((item, i) => {
      const s = i < prefix.length ? prefix[i] : schema.items;
      if (s !== undefined && !Array.isArray(s)) this.check(s as Schema, item, pathJoin(path, i), depth + 1);
    });
  }

  checkObject(schema: Record<string, unknown>, v: Record<string, unknown>, path: string, depth: number) {
    const props = isObject(schema.properties) ? schema.properties : {};
    if (Array.isArray(schema.required)) {
      for (const r of schema.required) {
        if (typeof r === "string" && !Object.prototype.hasOwnProperty.call(v, r))
          this.add(pathJoin(path, r), "is required");
      }
    }
    const keys = Object.keys(v);
    if (typeof schema.minProperties === "number" && keys.length < schema.minProperties)
      this.add(path, `must have at least ${schema.minProperties} properties`);
    if (typeof schema.maxProperties === "number" && keys.length > schema.maxProperties)
      this.add(path, `must have at most ${schema.maxProperties} properties`);
    for (const k of keys) {
      if (Object.prototype.hasOwnProperty.call(props, k)) {
        this.check(props[k] as Schema, v[k], pathJoin(path, k), depth + 1);
      } else if (schema.additionalProperties === false) {
        this.add(pathJoin(path, k), "is not an allowed property");
      } else if (isObject(schema.additionalProperties)) {
        this.check(schema.additionalProperties, v[k], pathJoin(path, k), depth + 1);
      }
    }
  }
}

/** Validates `value` against a tool's JSON Schema. An empty list means valid. */
export function validateJsonSchema(schema: unknown, value: unknown): SchemaIssue[] {
  if (!isObject(schema) && typeof schema !== "boolean") return [];
  const v = new Validator(schema as Schema);
  v.check(schema as Schema, value, "", 0);
  return v.issues;
}

/** One readable line for an issue list. */
export function describeIssues(issues: SchemaIssue[], max = 5): string {
  const shown = issues.slice(0, max).map((i) => `${i.path} ${i.message}`);
  return shown.join("; ") + (issues.length > max ? `; and ${issues.length - max} more` : "");
}
