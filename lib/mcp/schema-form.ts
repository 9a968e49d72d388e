// What the playground's form draws for a piece of a tool's JSON Schema. Pure (no imports): used by client
// components and by the server's validator for the one path format both show ("address.street", "tags[0]").
// Only local `$ref`s into the same schema are followed; anything the form can't draw is a JSON field.

export type JsonSchema = { [key: string]: unknown };

/** One problem with the arguments: where ("address.street", "tags[0]", "(root)") and what. */
export type SchemaIssue = { path: string; message: string };

/** The outcome of checking arguments: valid, invalid (with issues), or not checked here (with why). */
export type SchemaCheck =
  | { status: "valid" }
  | { status: "invalid"; issues: SchemaIssue[] }
  | { status: "unchecked"; reason: string };

/** One readable line for an issue list. */
export function describeIssues(issues: SchemaIssue[], max = 5): string {
  const shown = issues.slice(0, max).map((i) => `${i.path} ${i.message}`);
  return shown.join("; ") + (issues.length > max ? `; and ${issues.length - max} more` : "");
}
type Option = { value: unknown; label: string };

export type FieldShape = { schema: JsonSchema; nullable: boolean } & (
  | { kind: "string" | "number" | "integer" | "boolean" }
  | { kind: "enum"; options: Option[] }
  | { kind: "const"; value: unknown }
  | { kind: "object"; properties: [string, JsonSchema][]; required: Set<string> }
  | { kind: "array"; items: JsonSchema }
  | { kind: "tuple"; prefix: JsonSchema[] }
  | { kind: "choice"; options: { label: string; schema: JsonSchema }[] }
  | { kind: "json" }
);

const MAX_DEPTH = 12;
const MAX_REF_HOPS = 16;

const isObject = (v: unknown): v is JsonSchema => typeof v === "object" && v !== null && !Array.isArray(v);
const asSchema = (v: unknown): JsonSchema => (isObject(v) ? v : v === false ? { not: {} } : {});

/** `base` + a property or index, in the validator's notation: `a.b`, `a[0]`, `a["x y"]`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

function pointer(root: JsonSchema, ref: string): JsonSchema | undefined {
  if (!ref.startsWith("#")) return undefined;
  let cur: unknown = root;
  for (const raw of ref.slice(1).split("/").filter(Boolean)) {
    let part: string;
    try {
      part = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      return undefined;
    }
    if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = cur[part];
  }
  return isObject(cur) ? cur : undefined;
}

/**
 * The schema with local `$ref`s followed (its own keywords win over the target's: a `description` beside a
 * `$ref` is the field's) and a lone `allOf` member folded in. Unresolvable refs are left as they are.
 */
export function resolveSchema(root: JsonSchema, schema: JsonSchema): JsonSchema {
  let cur = schema;
  for (let hops = 0; hops < MAX_REF_HOPS; hops++) {
    if (typeof cur.$ref === "string") {
      const target = pointer(root, cur.$ref);
      if (!target) return cur;
      const { $ref: _ref, ...own } = cur;
      void _ref;
      cur = { ...target, ...own };
      continue;
    }
    if (Array.isArray(cur.allOf) && cur.allOf.length === 1 && isObject(cur.allOf[0])) {
      const { allOf, ...own } = cur;
      cur = { ...(allOf[0] as JsonSchema), ...own };
      continue;
    }
    return cur;
  }
  return cur;
}

function labelOf(root: JsonSchema, s: JsonSchema, i: number): string {
  const r = resolveSchema(root, s);
  if (typeof r.title === "string") return r.title;
  if ("const" in r) return JSON.stringify(r.const);
  if (typeof s.$ref === "string") return s.$ref.split("/").pop() || `Option ${i + 1}`;
  // A discriminator: the first property whose value is fixed, e.g. { kind: { const: "user" } }.
  if (isObject(r.properties)) {
    for (const [k, p] of Object.entries(r.properties)) {
      const pr = resolveSchema(root, asSchema(p));
      if ("const" in pr) return `${k}: ${JSON.stringify(pr.const)}`;
    }
  }
  if (typeof r.type === "string") return r.type;
  return `Option ${i + 1}`;
}

const isNullSchema = (root: JsonSchema, s: unknown) => {
  const r = resolveSchema(root, asSchema(s));
  return r.type === "null" || ("const" in r && r.const === null);
};

/** What the form draws for `schema` (already a property's or an item's schema). */
export function shapeOf(root: JsonSchema, schema: JsonSchema, depth = 0): FieldShape {
  const s = resolveSchema(root, schema);
  const json = (nullable = false): FieldShape => ({ kind: "json", schema: s, nullable });
  if (depth > MAX_DEPTH || typeof s.$ref === "string") return json();
  if (s.not !== undefined && Object.keys(s).length === 1) return json();

  const alternatives = Array.isArray(s.oneOf) ? s.oneOf : Array.isArray(s.anyOf) ? s.anyOf : null;
  if (alternatives) {
    const nonNull = alternatives.filter((a) => !isNullSchema(root, a)).map(asSchema);
    const nullable = nonNull.length < alternatives.length;
    const { oneOf: _o, anyOf: _a, ...own } = s;
    void _o;
    void _a;
    if (nonNull.length === 0) return { kind: "const", value: null, schema: s, nullable: true };
    if (nonNull.length === 1) {
      const inner = shapeOf(root, { ...resolveSchema(root, nonNull[0]), ...own }, depth + 1);
      return { ...inner, nullable: inner.nullable || nullable };
    }
    const resolved = nonNull.map((a) => resolveSchema(root, a));
    if (resolved.every((r) => "const" in r)) {
      const options = resolved.map((r) => ({
        value: r.const,
        label: typeof r.title === "string" ? r.title : String(r.const),
      }));
      return { kind: "enum", options, schema: s, nullable };
    }
    return {
      kind: "choice",
      options: nonNull.map((a, i) => ({
        label: labelOf(root, a, i),
        schema: { ...own, ...resolveSchema(root, a) },
      })),
      schema: s,
      nullable,
    };
  }

  if (Array.isArray(s.enum)) {
    const options = s.enum.filter((v) => v !== null).map((v) => ({ value: v, label: String(v) }));
    return { kind: "enum", options, schema: s, nullable: s.enum.includes(null) };
  }
  if ("const" in s) return { kind: "const", value: s.const, schema: s, nullable: false };

  let nullable = false;
  let type = s.type;
  if (Array.isArray(type)) {
    const types = type.filter((t): t is string => typeof t === "string");
    nullable = types.includes("null");
    const rest = types.filter((t) => t !== "null");
    if (rest.length > 1) {
      return {
        kind: "choice",
        options: rest.map((t) => ({ label: t, schema: { ...s, type: t } })),
        schema: s,
        nullable,
      };
    }
    type = rest[0];
  }
  if (type === undefined) {
    if (isObject(s.properties)) type = "object";
    else if (Array.isArray(s.prefixItems) || s.items !== undefined) type = "array";
  }

  if (type === "string" || type === "number" || type === "integer" || type === "boolean")
    return { kind: type, schema: s, nullable };
  if (type === "object") {
    if (!isObject(s.properties) || !Object.keys(s.properties).length) return json(nullable);
    const properties = Object.entries(s.properties).map(([k, v]) => [k, asSchema(v)] as [string, JsonSchema]);
    const required = new Set(
      Array.isArray(s.required) ? s.required.filter((r) => typeof r === "string") : [],
    );
    return { kind: "object", properties, required, schema: s, nullable };
  }
  if (type === "array") {
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : null;
    if (prefix) return { kind: "tuple", prefix: prefix.map(asSchema), schema: s, nullable };
    if (isObject(s.items)) return { kind: "array", items: s.items, schema: s, nullable };
    return json(nullable);
  }
  return json(nullable);
}

/** Whether the whole schema can be drawn as a form (its top level is an object, or takes no arguments). */
export function formSupports(root: JsonSchema): boolean {
  const shape = shapeOf(root, root);
  return shape.kind === "object" || (shape.kind === "json" && !hasProperties(root));
}

const hasProperties = (s: JsonSchema) => isObject(s.properties) && Object.keys(s.properties).length > 0;

/**
 * The value a field starts with: its default, else a fixed `const`; required objects start with their own
 * starting values, optional ones start absent (left empty, they are not sent).
 */
export function initialValue(root: JsonSchema, schema: JsonSchema, required = true, depth = 0): unknown {
  const s = resolveSchema(root, schema);
  if (s.default !== undefined) return s.default;
  if (depth > MAX_DEPTH) return undefined;
  const shape = shapeOf(root, s, depth);
  if (shape.kind === "const" && required) return shape.value;
  if (shape.kind === "object" && required) {
    const out: Record<string, unknown> = {};
    for (const [k, p] of shape.properties) {
      const v = initialValue(root, p, shape.required.has(k), depth + 1);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
  if (shape.kind === "tuple" && required)
    return shape.prefix.map((p) => initialValue(root, p, true, depth + 1) ?? null);
  if (shape.kind === "choice" && required)
    return initialValue(root, shape.options[0].schema, true, depth + 1);
  return undefined;
}

/** Which option of a choice `value` fits best: a matching `const` discriminator, else the JSON type. */
export function pickOption(root: JsonSchema, options: { schema: JsonSchema }[], value: unknown): number {
  if (value === undefined) return 0;
  const typeOfValue =
    value === null
      ? "null"
      : Array.isArray(value)
        ? "array"
        : typeof value === "number"
          ? Number.isInteger(value)
            ? "integer"
            : "number"
          : typeof value;
  let byType = -1;
  for (let i = 0; i < options.length; i++) {
    const s = resolveSchema(root, options[i].schema);
    if ("const" in s && JSON.stringify(s.const) === JSON.stringify(value)) return i;
    if (isObject(value) && isObject(s.properties)) {
      const fixed = Object.entries(s.properties)
        .map(([k, p]) => [k, resolveSchema(root, asSchema(p))] as const)
        .filter(([, p]) => "const" in p);
      if (fixed.length && fixed.every(([k, p]) => JSON.stringify(value[k]) === JSON.stringify(p.const)))
        return i;
    }
    const t = shapeOf(root, s).kind;
    const fits =
      t === typeOfValue ||
      (t === "number" && typeOfValue === "integer") ||
      (t === "object" && typeOfValue === "object") ||
      ((t === "array" || t === "tuple") && typeOfValue === "array") ||
      (t === "enum" && typeOfValue !== "object");
    if (fits && byType < 0) byType = i;
  }
  return Math.max(0, byType);
}
