"use client";
// A form generated from a tool's JSON Schema: strings, numbers, integers, booleans, enums, arrays and
// nested objects, with required markers, defaults and descriptions. Anything it can't model is left to
// the raw JSON editor.
import { useId } from "react";

export type Schema = {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
};

const typeOf = (s: Schema): string | undefined =>
  Array.isArray(s.type)
    ? s.type.find((t) => t !== "null")
    : (s.type ?? (s.properties ? "object" : s.enum ? "enum" : undefined));

/** Initial value: defaults where given, empty containers for required objects. */
export function initialValue(s: Schema): unknown {
  if (s.default !== undefined) return s.default;
  const t = typeOf(s);
  if (t === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, p] of Object.entries(s.properties ?? {})) {
      const v = initialValue(p);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
  return undefined;
}

/** True when the form can represent the schema; otherwise the raw editor is offered by default. */
export function formSupports(s: Schema, depth = 0): boolean {
  if (depth > 6) return false;
  const t = typeOf(s);
  if (s.enum) return true;
  if (t === "object") return Object.values(s.properties ?? {}).every((p) => formSupports(p, depth + 1));
  if (t === "array") return !!s.items && formSupports(s.items, depth + 1);
  return ["string", "number", "integer", "boolean"].includes(t ?? "");
}

type FieldProps = {
  name: string;
  schema: Schema;
  required: boolean;
  value: unknown;
  onChange: (v: unknown) => void;
};

export function SchemaField({ name, schema, required, value, onChange }: FieldProps) {
  const id = useId();
  const t = typeOf(schema);
  const label = (
    <span className="font-medium text-zinc-800">
      {schema.title ?? name}
      {required && <span className="text-red-600"> *</span>}
      <span className="ml-2 font-mono text-xs font-normal text-zinc-400">{name}</span>
    </span>
  );
  const help = schema.description ? (
    <span className="mt-0.5 block text-xs text-zinc-500">{schema.description}</span>
  ) : null;
  const inputCls =
    "mt-1 block w-full rounded-md border border-zinc-300 bg-white px-2 py-1.5 text-sm outline-none focus:border-zinc-500";

  if (schema.enum) {
    return (
      <label className="block text-sm" htmlFor={id}>
        {label}
        <select
          id={id}
          aria-label={name}
          className={inputCls}
          value={value === undefined ? "" : JSON.stringify(value)}
          onChange={(e) => onChange(e.target.value === "" ? undefined : JSON.parse(e.target.value))}
        >
          <option value="">—</option>
          {schema.enum.map((v) => (
            <option key={JSON.stringify(v)} value={JSON.stringify(v)}>
              {String(v)}
            </option>
          ))}
        </select>
        {help}
      </label>
    );
  }
  if (t === "boolean") {
    return (
      <label className="flex items-start gap-2 text-sm">
        <input
          type="checkbox"
          aria-label={name}
          className="mt-1"
          checked={value === true}
          onChange={(e) => onChange(e.target.checked)}
        />
        <span>
          {label}
          {help}
        </span>
      </label>
    );
  }
  if (t === "number" || t === "integer") {
    return (
      <label className="block text-sm" htmlFor={id}>
        {label}
        <input
          id={id}
          aria-label={name}
          type="number"
          step={t === "integer" ? 1 : "any"}
          min={schema.minimum}
          max={schema.maximum}
          className={inputCls}
          value={typeof value === "number" ? value : ""}
          onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))}
        />
        {help}
      </label>
    );
  }
  if (t === "object") {
    const obj = (value && typeof value === "object" ? value : {}) as Record<string, unknown>;
    return (
      <fieldset className="space-y-3 rounded-md border border-zinc-200 p-3">
        <legend className="px-1 text-sm">{label}</legend>
        {help}
        <ObjectFields schema={schema} value={obj} onChange={onChange} />
      </fieldset>
    );
  }
  if (t === "array" && schema.items) {
    const list = Array.isArray(value) ? value : [];
    return (
      <fieldset className="space-y-2 rounded-md border border-zinc-200 p-3">
        <legend className="px-1 text-sm">{label}</legend>
        {help}
        {list.map((item, i) => (
          <div key={i} className="flex items-start gap-2">
            <div className="flex-1">
              <SchemaField
                name={`${name}[${i}]`}
                schema={schema.items!}
                required
                value={item}
                onChange={(v) => onChange(list.map((x, j) => (j === i ? v : x)))}
              />
            </div>
            <button
              type="button"
              className="mt-6 text-xs text-red-700 hover:underline"
              onClick={() => onChange(list.filter((_, j) => j !== i))}
            >
              Remove
            </button>
          </div>
        ))}
        <button
          type="button"
          className="text-xs font-medium text-indigo-700 hover:underline"
          onClick={() => onChange([...list, initialValue(schema.items!)])}
        >
          Add item to {name}
        </button>
      </fieldset>
    );
  }
  return (
    <label className="block text-sm" htmlFor={id}>
      {label}
      <input
        id={id}
        aria-label={name}
        className={inputCls}
        value={typeof value === "string" ? value : ""}
        onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)}
      />
      {help}
    </label>
  );
}

export function ObjectFields({
  schema,
  value,
  onChange,
}: {
  schema: Schema;
  value: Record<string, unknown>;
  onChange: (v: Record<string, unknown>) => void;
}) {
  const required = new Set(schema.required ?? []);
  const entries = Object.entries(schema.properties ?? {});
  if (!entries.length) return <p className="text-sm text-zinc-500">This tool takes no arguments.</p>;
  return (
    <>
      {entries.map(([k, p]) => (
        <SchemaField
          key={k}
          name={k}
          schema={p}
          required={required.has(k)}
          value={value[k]}
          onChange={(v) => {
            const next = { ...value };
            if (v === undefined) delete next[k];
            else next[k] = v;
            onChange(next);
          }}
        />
      ))}
    </>
  );
}
