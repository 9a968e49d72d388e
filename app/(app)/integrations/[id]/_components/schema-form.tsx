"use client";
// A form generated from a tool's JSON Schema: strings, numbers, booleans, enums, constants, nested objects,
// arrays and tuples, `$ref`s into `$defs`, a choice of shapes for oneOf/anyOf, and a null switch for nullable
// fields. A field the form can't draw gets its own small JSON editor. Issues from the live check are shown
// beside the field they name.
import { createContext, useContext, useId, useState } from "react";
import {
  initialValue,
  joinPath,
  pickOption,
  shapeOf,
  type FieldShape,
  type JsonSchema,
  type SchemaIssue,
} from "@/lib/mcp/schema-form";

export type Schema = JsonSchema;
export { formSupports, initialValue } from "@/lib/mcp/schema-form";

type FormContext = {
  root: JsonSchema;
  issues: SchemaIssue[];
  /** A JSON field reports text that doesn't parse (message) or that it parses again (undefined). */
  onJsonError: (path: string, message: string | undefined) => void;
};
const Ctx = createContext<FormContext>({ root: {}, issues: [], onJsonError: () => {} });

const inputCls =
  "mt-1 block w-full rounded-md border border-zinc-300 bg-white px-2 py-1.5 text-sm outline-none focus:border-zinc-500";

function Issues({ path, nested = false }: { path: string; nested?: boolean }) {
  const { issues } = useContext(Ctx);
  const mine = issues.filter(
    (i) => i.path === path || (nested && (i.path.startsWith(`${path}.`) || i.path.startsWith(`${path}[`))),
  );
  if (!mine.length) return null;
  return (
    <span className="mt-0.5 block text-xs text-red-700" data-testid="field-issue">
      {mine
        .map((i) => (i.path === path ? i.message : `${i.path.slice(path.length)} ${i.message}`))
        .join("; ")}
    </span>
  );
}

type FieldProps = {
  /** The property name or index label shown and used as the accessible name. */
  name: string;
  /** The field's place in the arguments, as the validator writes it. */
  path: string;
  schema: JsonSchema;
  required: boolean;
  value: unknown;
  onChange: (v: unknown) => void;
  depth?: number;
};

export function SchemaField(props: FieldProps) {
  const { root } = useContext(Ctx);
  const shape = shapeOf(root, props.schema, props.depth ?? 0);
  if (!shape.nullable) return <ShapeField {...props} shape={shape} />;
  const isNull = props.value === null;
  return (
    <div className="space-y-1">
      <label className="flex items-center gap-1 text-xs text-zinc-600">
        <input
          type="checkbox"
          aria-label={`${props.name} is null`}
          checked={isNull}
          onChange={(e) =>
            props.onChange(e.target.checked ? null : initialValue(root, shape.schema, props.required))
          }
        />
        null
      </label>
      {isNull ? (
        <span className="block text-sm">
          <Label name={props.name} schema={shape.schema} required={props.required} />
          <span className="ml-2 font-mono text-xs text-zinc-500">null</span>
        </span>
      ) : (
        <ShapeField {...props} shape={shape} />
      )}
    </div>
  );
}

function Label({ name, schema, required }: { name: string; schema: JsonSchema; required: boolean }) {
  return (
    <span className="font-medium text-zinc-800">
      {typeof schema.title === "string" ? schema.title : name}
      {required && <span className="text-red-600"> *</span>}
      <span className="ml-2 font-mono text-xs font-normal text-zinc-400">{name}</span>
    </span>
  );
}

function Help({ schema }: { schema: JsonSchema }) {
  return typeof schema.description === "string" ? (
    <span className="mt-0.5 block text-xs text-zinc-500">{schema.description}</span>
  ) : null;
}

function ShapeField({
  name,
  path,
  required,
  value,
  onChange,
  depth = 0,
  shape,
}: FieldProps & { shape: FieldShape }) {
  const id = useId();
  const { root } = useContext(Ctx);
  const s = shape.schema;
  const label = <Label name={name} schema={s} required={required} />;

  switch (shape.kind) {
    case "enum":
      return (
        <label className="block text-sm" htmlFor={id}>
          {label}
          <select
            id={id}
            aria-label={name}
            className={inputCls}
            value={value === undefined || value === null ? "" : JSON.stringify(value)}
            onChange={(e) => onChange(e.target.value === "" ? undefined : JSON.parse(e.target.value))}
          >
            <option value="">—</option>
            {shape.options.map((o) => (
              <option key={JSON.stringify(o.value)} value={JSON.stringify(o.value)}>
                {o.label}
              </option>
            ))}
          </select>
          <Help schema={s} />
          <Issues path={path} />
        </label>
      );
    case "const":
      return (
        <div className="text-sm">
          {label}
          <span
            className="ml-2 rounded bg-zinc-100 px-1.5 py-0.5 font-mono text-xs"
            data-testid="const-value"
          >
            {JSON.stringify(shape.value)}
          </span>
          {value === undefined && !required && (
            <button
              type="button"
              className="ml-2 text-xs text-indigo-700 hover:underline"
              onClick={() => onChange(shape.value)}
            >
              Include {name}
            </button>
          )}
          <Help schema={s} />
          <Issues path={path} />
        </div>
      );
    case "boolean":
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
            <Help schema={s} />
            <Issues path={path} />
          </span>
        </label>
      );
    case "number":
    case "integer":
      return (
        <label className="block text-sm" htmlFor={id}>
          {label}
          <input
            id={id}
            aria-label={name}
            type="number"
            step={shape.kind === "integer" ? 1 : "any"}
            min={typeof s.minimum === "number" ? s.minimum : undefined}
            max={typeof s.maximum === "number" ? s.maximum : undefined}
            className={inputCls}
            value={typeof value === "number" ? value : ""}
            onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))}
          />
          <Help schema={s} />
          <Issues path={path} />
        </label>
      );
    case "string":
      return (
        <label className="block text-sm" htmlFor={id}>
          {label}
          <input
            id={id}
            aria-label={name}
            className={inputCls}
            value={typeof value === "string" ? value : ""}
            onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}
          />
          <Help schema={s} />
          <Issues path={path} />
        </label>
      );
    case "object": {
      const obj =
        value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
      return (
        <fieldset className="space-y-3 rounded-md border border-zinc-200 p-3">
          <legend className="px-1 text-sm">{label}</legend>
          <Help schema={s} />
          {!required && (
            <span className="block text-xs text-zinc-500">Optional: left empty, it is not sent.</span>
          )}
          <Issues path={path} />
          <Properties
            shape={shape}
            path={path}
            value={obj}
            depth={depth + 1}
            // An optional object that ends up empty is left out rather than sent as {}.
            onChange={(next) => onChange(!required && Object.keys(next).length === 0 ? undefined : next)}
          />
        </fieldset>
      );
    }
    case "array": {
      const list = Array.isArray(value) ? value : [];
      return (
        <fieldset className="space-y-2 rounded-md border border-zinc-200 p-3">
          <legend className="px-1 text-sm">{label}</legend>
          <Help schema={s} />
          <Issues path={path} />
          {list.map((item, i) => (
            <div key={i} className="flex items-start gap-2">
              <div className="flex-1">
                <SchemaField
                  name={`${name}[${i}]`}
                  path={joinPath(path, i)}
                  schema={shape.items}
                  required
                  value={item}
                  depth={depth + 1}
                  onChange={(v) => onChange(list.map((x, j) => (j === i ? v : x)))}
                />
              </div>
              <button
                type="button"
                className="mt-6 text-xs text-red-700 hover:underline"
                onClick={() => {
                  const next = list.filter((_, j) => j !== i);
                  onChange(next.length || required ? next : undefined);
                }}
              >
                Remove
              </button>
            </div>
          ))}
          <button
            type="button"
            className="text-xs font-medium text-indigo-700 hover:underline"
            onClick={() => onChange([...list, initialValue(root, shape.items, true)])}
          >
            Add item to {name}
          </button>
        </fieldset>
      );
    }
    case "tuple": {
      const list = Array.isArray(value) ? value : shape.prefix.map(() => undefined);
      const set = (i: number, v: unknown) => {
        const next = shape.prefix.map((_, j) => (j === i ? v : list[j]));
        onChange(next.every((x) => x === undefined) && !required ? undefined : next.map((x) => x ?? null));
      };
      return (
        <fieldset className="space-y-2 rounded-md border border-zinc-200 p-3" data-testid="tuple-field">
          <legend className="px-1 text-sm">{label}</legend>
          <Help schema={s} />
          <Issues path={path} />
          {shape.prefix.map((item, i) => (
            <SchemaField
              key={i}
              name={`${name}[${i}]`}
              path={joinPath(path, i)}
              schema={item}
              required
              value={list[i] ?? undefined}
              depth={depth + 1}
              onChange={(v) => set(i, v)}
            />
          ))}
        </fieldset>
      );
    }
    case "choice":
      return <ChoiceField {...{ name, path, required, value, onChange, depth, shape }} />;
    case "json":
      return <JsonField {...{ name, path, required, value, onChange, schema: s }} />;
  }
}

function ChoiceField({
  name,
  path,
  required,
  value,
  onChange,
  depth = 0,
  shape,
}: Omit<FieldProps, "schema"> & { shape: Extract<FieldShape, { kind: "choice" }> }) {
  const { root } = useContext(Ctx);
  const id = useId();
  const [chosen, setChosen] = useState(() => pickOption(root, shape.options, value));
  const option = shape.options[chosen] ?? shape.options[0];
  return (
    <fieldset className="space-y-2 rounded-md border border-zinc-200 p-3">
      <legend className="px-1 text-sm">
        <Label name={name} schema={shape.schema} required={required} />
      </legend>
      <Help schema={shape.schema} />
      <label className="block text-xs text-zinc-600" htmlFor={id}>
        Shape
        <select
          id={id}
          aria-label={`${name} shape`}
          className={inputCls}
          value={chosen}
          onChange={(e) => {
            const i = Number(e.target.value);
            setChosen(i);
            onChange(initialValue(root, shape.options[i].schema, true));
          }}
        >
          {shape.options.map((o, i) => (
            <option key={i} value={i}>
              {o.label}
            </option>
          ))}
        </select>
      </label>
      <SchemaField
        key={chosen}
        name={name}
        path={path}
        schema={{ ...option.schema, title: undefined, description: undefined }}
        required={required}
        value={value}
        depth={depth + 1}
        onChange={onChange}
      />
    </fieldset>
  );
}

/** A field the form can't draw: its own JSON editor, parsed as the person types. */
function JsonField({
  name,
  path,
  required,
  value,
  onChange,
  schema,
}: Omit<FieldProps, "depth"> & { schema: JsonSchema }) {
  const { onJsonError } = useContext(Ctx);
  const id = useId();
  const [text, setText] = useState(() => (value === undefined ? "" : JSON.stringify(value, null, 2)));
  const [parseError, setParseError] = useState<string>();
  return (
    <label className="block text-sm" htmlFor={id}>
      <Label name={name} schema={schema} required={required} />
      <span className="ml-2 text-xs text-zinc-500">JSON</span>
      <textarea
        id={id}
        aria-label={`${name} (JSON)`}
        className={`${inputCls} h-24 font-mono text-xs`}
        value={text}
        onChange={(e) => {
          const t = e.target.value;
          setText(t);
          if (t.trim() === "") {
            setParseError(undefined);
            onJsonError(path, undefined);
            return onChange(undefined);
          }
          try {
            const v = JSON.parse(t);
            setParseError(undefined);
            onJsonError(path, undefined);
            onChange(v);
          } catch (err) {
            const msg = `is not valid JSON (${err instanceof Error ? err.message : "parse error"})`;
            setParseError(msg);
            onJsonError(path, msg);
          }
        }}
      />
      <Help schema={schema} />
      {parseError && (
        <span className="mt-0.5 block text-xs text-red-700" data-testid="field-issue">
          {parseError}
        </span>
      )}
      <Issues path={path} nested />
    </label>
  );
}

function Properties({
  shape,
  path,
  value,
  onChange,
  depth,
}: {
  shape: Extract<FieldShape, { kind: "object" }>;
  path: string;
  value: Record<string, unknown>;
  onChange: (v: Record<string, unknown>) => void;
  depth: number;
}) {
  return (
    <>
      {shape.properties.map(([k, p]) => (
        <SchemaField
          key={k}
          name={k}
          path={joinPath(path, k)}
          schema={p}
          required={shape.required.has(k)}
          value={value[k]}
          depth={depth}
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

/** The tool's arguments as a form: the top-level object's properties. */
export function ObjectFields({
  schema,
  value,
  onChange,
  issues = [],
  onJsonError = () => {},
}: {
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange: (v: Record<string, unknown>) => void;
  issues?: SchemaIssue[];
  onJsonError?: FormContext["onJsonError"];
}) {
  const shape = shapeOf(schema, schema);
  if (shape.kind !== "object") return <p className="text-sm text-zinc-500">This tool takes no arguments.</p>;
  return (
    <Ctx.Provider value={{ root: schema, issues, onJsonError }}>
      <Issues path="(root)" />
      <Properties shape={shape} path="" value={value} onChange={onChange} depth={1} />
    </Ctx.Provider>
  );
}
