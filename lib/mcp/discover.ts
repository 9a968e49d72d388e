// Discovery: server metadata plus every page of tools/list, within the limits of docs/security.md. Everything
// the server sends is treated as data: copied without prototype-polluting keys, depth-checked, hashed, and kept
// in the key order the server sent (pages, the API and the agent endpoint show it in that order).
import { hash } from "node:crypto";
import { AppError } from "@/lib/errors";
import { assertJsonShape, jsonProblem } from "@/lib/limits/json-shape";
import type { McpConnection, TransportKind } from "@/lib/mcp/connect";
import { classifyMcpError } from "@/lib/mcp/errors";

export const MAX_TOOLS = 1000;
export const MAX_PAGES = 50;
const MAX_NAME = 256;
const MAX_TEXT = 64 * 1024;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

export type ServerMeta = {
  name: string | null;
  title: string | null;
  version: string | null;
  protocolVersion: string | null;
  era: "legacy" | "modern" | null;
  transport: TransportKind;
  capabilities: JsonObject | null;
  instructions: string | null;
};

export type ToolDefinition = {
  name: string;
  title: string | null;
  description: string | null;
  inputSchema: JsonObject;
  outputSchema: JsonObject | null;
  annotations: JsonObject | null;
  /** the tool's `_meta`, as the server sent it */
  meta: JsonObject | null;
  /** the tool's `execution` (task support), as the server sent it */
  execution?: JsonObject | null;
  definitionHash: string;
};

/**
 * A listed tool left out, and why (shown on the integration): "storage" when the database can't store it
 * as sent, "protocol" when the protocol says to leave it out (invalid `x-mcp-header` declarations).
 */
export type RefusedTool = { name: string; reason: string; kind?: "storage" | "protocol" };

/**
 * Copies server JSON: drops `__proto__`, refuses depth > 64 and oversized values (lib/limits/json-shape.ts,
 * checked before the copy recurses), keeps only JSON types and the server's key order. Strings are made
 * well-formed (a lone surrogate becomes U+FFFD); NUL characters are kept: JSON columns store them escaped.
 */
export function sanitizeJson(value: unknown, what: string): JsonValue {
  assertJsonShape(value, what);
  return copyJson(value);
}

function copyJson(value: unknown): JsonValue {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "string") return value.toWellFormed();
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(copyJson);
  if (typeof value === "object") {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "__proto__" || v === undefined) continue;
      out[k.toWellFormed()] = copyJson(v);
    }
    return out;
  }
  return null;
}

const isObject = (v: unknown): v is object => !!v && typeof v === "object" && !Array.isArray(v);

function objectOrNull(v: unknown, what: string): JsonObject | null {
  return isObject(v) ? (sanitizeJson(v, what) as JsonObject) : null;
}

/** Display text for a text column: well-formed, NUL (which the database can't store) shown as U+FFFD, capped. */
function text(v: unknown, max = MAX_TEXT): string | null {
  return typeof v === "string" ? v.slice(0, max).toWellFormed().replaceAll("\0", "\uFFFD") : null;
}

/**
 * A definition's hash: its fields in a fixed order, each value as the server sent it, so a change the pages
 * would show (key order included) is a change. `meta` takes part only when present.
 */
export function definitionHash(t: Omit<ToolDefinition, "definitionHash">): string {
  const { annotations, description, execution, inputSchema, meta, name, outputSchema, title } = t;
  const fields = meta
    ? { annotations, description, inputSchema, meta, name, outputSchema, title }
    : { annotations, description, inputSchema, name, outputSchema, title };
  // `execution` takes part only when present, so definitions stored before it was kept hash alike.
  if (execution) Object.assign(fields, { execution });
  return hash("sha256", JSON.stringify(fields), "hex");
}

/**
 * Normalizes one tools/list entry: undefined for an entry without a usable name, `{ refused }` for a tool
 * whose name the database can't store as sent (a tool's name is its identity: it is never altered), whose
 * definition is nested too deep or too large (lib/limits/json-shape.ts), whose input schema is not an
 * object schema, or — with `headers` (the 2026-07-28 revision) — whose `x-mcp-header` declarations are
 * invalid (SEP-2243: the client must leave such a tool out).
 */
export function normalizeTool(
  raw: unknown,
  opts: { headers?: boolean } = {},
): ToolDefinition | { refused: RefusedTool } | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const r = raw as Record<string, unknown>;
  const name = typeof r.name === "string" ? r.name : "";
  if (!name || name.length > MAX_NAME) return undefined;
  const refuse = (reason: string, kind?: "protocol") => ({
    refused: { name: text(name, 64)!, reason, ...(kind && { kind }) },
  });
  if (name.includes("\0") || !name.isWellFormed()) {
    return refuse(
      name.includes("\0") ? "its name contains a NUL character" : "its name is not valid Unicode",
    );
  }
  const json = [r.inputSchema, r.outputSchema, r.annotations, r._meta, r.execution].map((v) =>
    isObject(v) ? v : null,
  );
  for (const v of json) {
    const problem = v && jsonProblem(v);
    // Too deep or too large to store, hash or show: only this tool is left out (docs/security.md §17).
    if (problem) return refuse(`its definition ${problem.text}`);
  }
  const [inputSchema, outputSchema, annotations, meta, execution] = json.map(
    (v) => v && (copyJson(v) as JsonObject),
  );
  if (inputSchema && inputSchema.type !== undefined && inputSchema.type !== "object") {
    return refuse('its inputSchema is not an object schema (type must be "object")', "protocol");
  }
  const headerProblem = opts.headers && inputSchema ? xMcpHeaderProblem(inputSchema) : undefined;
  if (headerProblem) return refuse(headerProblem, "protocol");
  const t = {
    name,
    title: text(r.title, 1024) ?? text((r.annotations as Record<string, unknown> | undefined)?.title, 1024),
    description: text(r.description),
    inputSchema: inputSchema ?? { type: "object" },
    outputSchema,
    annotations,
    meta,
    execution,
  };
  return { ...t, definitionHash: definitionHash(t) };
}

/** RFC 9110 token characters: what a header name may hold. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** The property types a header may carry (SEP-2243: not `number`, nothing structured). */
const HEADER_TYPES = new Set(["string", "integer", "boolean"]);
/** Subschema keywords a declaration may not sit under (only a chain of `properties` reaches a header). */
const NOT_REACHABLE = [
  "items",
  "prefixItems",
  "contains",
  "additionalProperties",
  "unevaluatedProperties",
  "unevaluatedItems",
  "propertyNames",
  "patternProperties",
  "dependentSchemas",
  "oneOf",
  "anyOf",
  "allOf",
  "not",
  "if",
  "then",
  "else",
  "$defs",
  "definitions",
];

/**
 * Why a tool's `x-mcp-header` declarations are invalid (SEP-2243, docs/protocol.md), or undefined when they
 * are valid: each must be a non-empty header-name token on a string, integer or boolean property reached
 * through `properties` alone, and no two may be equal ignoring case.
 */
export function xMcpHeaderProblem(inputSchema: JsonObject): string | undefined {
  const seen = new Map<string, string>();
  const at = (path: string[]) => (path.length ? `"${path.join(".")}"` : "the schema root");
  const visit = (node: JsonValue, path: string[], reachable: boolean): string | undefined => {
    if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
    if (Object.hasOwn(node, "x-mcp-header")) {
      const h = node["x-mcp-header"];
      if (!reachable || !path.length) {
        return `its x-mcp-header on ${at(path)} is not on a property reached through "properties" alone`;
      }
      if (typeof h !== "string" || h === "")
        return `its x-mcp-header on ${at(path)} is empty or not a string`;
      if (!TOKEN.test(h)) {
        return `its x-mcp-header "${h.slice(0, 64)}" on ${at(path)} is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~ only)`;
      }
      const type = node.type;
      if (typeof type !== "string" || !HEADER_TYPES.has(type)) {
        return `its x-mcp-header "${h}" is on ${at(path)} of type ${typeof type === "string" ? type : JSON.stringify(type ?? null)}; only string, integer and boolean parameters can be headers`;
      }
      const prior = seen.get(h.toLowerCase());
      if (prior !== undefined) return `its x-mcp-header "${h}" repeats "${prior}" (header names ignore case)`;
      seen.set(h.toLowerCase(), h);
    }
    const props = node.properties;
    if (props && typeof props === "object" && !Array.isArray(props)) {
      for (const [k, child] of Object.entries(props)) {
        const p = visit(child, [...path, k], reachable);
        if (p) return p;
      }
    }
    for (const k of NOT_REACHABLE) {
      const sub = node[k];
      if (sub === undefined) continue;
      const branches = Array.isArray(sub)
        ? sub
        : sub &&
            typeof sub === "object" &&
            ["$defs", "definitions", "patternProperties", "dependentSchemas"].includes(k)
          ? Object.values(sub)
          : [sub];
      for (const b of branches) {
        const p = visit(b, [...path, k], false);
        if (p) return p;
      }
    }
    return undefined;
  };
  return visit(inputSchema, [], true);
}

export function serverMeta(conn: McpConnection): ServerMeta {
  const c = conn.client;
  const info = c.getServerVersion() as Record<string, unknown> | undefined;
  return {
    name: text(info?.name, 256),
    title: text(info?.title, 256),
    version: text(info?.version, 128),
    protocolVersion: text(c.getNegotiatedProtocolVersion(), 64),
    era: c.getProtocolEra() ?? null,
    transport: conn.kind,
    capabilities: objectOrNull(c.getServerCapabilities(), "The server's capabilities"),
    instructions: text(c.getInstructions()),
  };
}

/**
 * Walks every tools/list page through the SDK's own `client.listTools()`, so the SDK applies its rules for
 * the 2026-07-28 revision (the exclusion of tools with invalid `x-mcp-header` declarations) and keeps the
 * list in its tool cache. The engine watches each page as it arrives, before the SDK reads it
 * (McpConnection.watchResults), to apply the caps of docs/security.md §14 and §17 as it goes: at most
 * MAX_TOOLS tools and MAX_PAGES pages, a repeated cursor ends the walk, a tool too deep or too large (or
 * with a name the database can't store, or invalid header declarations) is left out alone with its
 * reason. The SDK sees only the tools the engine keeps, each as the engine's checked copy, so one
 * malformed tool never fails the whole list.
 */
export async function listAllTools(
  conn: McpConnection,
  opts: { timeoutMs?: number } = {},
): Promise<Pick<Discovery, "tools" | "refused">> {
  const tools = new Map<string, ToolDefinition>();
  const refused: RefusedTool[] = [];
  if (!conn.client.getServerCapabilities()?.tools) return { tools: [], refused };
  // SEP-2243 applies to the 2026-07-28 revision over HTTP, as in the SDK (docs/protocol.md).
  const headers = conn.client.getProtocolEra() === "modern";
  const ac = new AbortController();
  let stop: AppError | undefined;
  const halt = (err: AppError) => {
    stop ??= err;
    ac.abort(stop);
  };
  const seenCursors = new Set<string>();
  let pages = 0;
  const unwatch = conn.watchResults("tools/list", (page) => {
    if (stop) return;
    pages++;
    if (!Array.isArray(page.tools)) return; // the SDK reports the malformed result
    const kept: unknown[] = [];
    for (const raw of page.tools as unknown[]) {
      const n = normalizeTool(raw, { headers });
      if (n && "refused" in n) refused.push(n.refused);
      else if (n && !tools.has(n.name)) {
        tools.set(n.name, n);
        kept.push(sdkView(n));
      }
      if (tools.size + refused.length > MAX_TOOLS) {
        return halt(
          new AppError(
            "too_many_tools",
            `The server lists more than ${MAX_TOOLS} tools; Poke supports at most ${MAX_TOOLS}.`,
            502,
          ),
        );
      }
    }
    page.tools = kept;
    const next = page.nextCursor;
    // Only a non-empty string continues the list (an empty or odd cursor ends it, as it always has).
    if (typeof next !== "string" || next === "") delete page.nextCursor;
    else if (seenCursors.has(next)) {
      halt(
        new AppError("too_many_pages", "The server's tool list pagination loops (a cursor repeated).", 502),
      );
    } else if (pages >= MAX_PAGES) {
      halt(
        new AppError(
          "too_many_pages",
          `The server's tool list goes on for more than ${MAX_PAGES} pages.`,
          502,
        ),
      );
    } else seenCursors.add(next);
  });
  let listed: { name: string }[];
  try {
    // "refresh": always from the server, and the result replaces the SDK's cached list.
    ({ tools: listed } = await conn.client.listTools(undefined, {
      timeout: opts.timeoutMs ?? 30_000,
      signal: ac.signal,
      cacheMode: "refresh",
    }));
  } catch (err) {
    throw stop ?? err;
  } finally {
    unwatch();
  }
  if (stop) throw stop;
  // Whatever else the SDK left out is left out here too, named on the integration.
  const kept = new Set(listed.map((t) => t.name));
  for (const name of tools.keys()) {
    if (kept.has(name)) continue;
    tools.delete(name);
    refused.push({ name: text(name, 64)!, reason: "the MCP SDK refused its definition", kind: "protocol" });
  }
  return { tools: [...tools.values()], refused };
}

/**
 * The tool as the SDK gets it: the engine's checked copy, with the fields the SDK reads (header
 * declarations and output validation come from `inputSchema` and `outputSchema`). An input schema that
 * names no type is an object schema, as the engine has always read it; `properties` and `required` of a
 * shape the SDK's schema refuses are left out of its copy only.
 */
function sdkView(t: ToolDefinition): Record<string, unknown> {
  const { properties, required, $schema, ...rest } = t.inputSchema;
  const out = t.outputSchema;
  return {
    name: t.name,
    ...(t.description !== null && { description: t.description }),
    inputSchema: {
      ...rest,
      ...(typeof $schema === "string" && { $schema }),
      type: "object",
      ...(isObject(properties) && { properties }),
      ...(Array.isArray(required) && required.every((k) => typeof k === "string") && { required }),
    },
    // Only an object schema is one the SDK takes (the engine keeps whatever the server sent).
    ...(out && out.type === "object" && isObject(out.properties ?? {}) && { outputSchema: out }),
  };
}

export type Discovery = {
  server: ServerMeta;
  tools: ToolDefinition[];
  /** listed tools that can't be stored (the sync names them on the integration) */
  refused: RefusedTool[];
  resources?: ListOutcome<"resources">;
  resourceTemplates?: ListOutcome<"resourceTemplates">;
  prompts?: ListOutcome<"prompts">;
};

/** Metadata + all tools, errors classified. */
export async function discover(
  conn: McpConnection,
  ctx: { url: URL; hasApiKey: boolean; oauthGranted?: boolean },
  opts: { timeoutMs?: number } = {},
): Promise<Discovery> {
  try {
    const found = { server: serverMeta(conn), ...(await listAllTools(conn, opts)) };
    return {
      ...found,
      resources: await listAll(conn, "resources", opts),
      resourceTemplates: await listAll(conn, "resourceTemplates", opts),
      prompts: await listAll(conn, "prompts", opts),
    };
  } catch (err) {
    throw classifyMcpError(err, ctx);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Resources, resource templates and prompts: listed like tools (same caps, same sanitizing), each list on
// its own — a server whose resources/list fails still has its tools synced, and the failure is noted.

/** The longest URI or URI template stored, in UTF-8 bytes (it is part of the row's indexed key). */
export const MAX_URI = 2048;

export type ResourceDefinition = {
  uri: string;
  name: string;
  title: string | null;
  description: string | null;
  mimeType: string | null;
  size: number | null;
  annotations: JsonObject | null;
  meta: JsonObject | null;
  definitionHash: string;
};

export type ResourceTemplateDefinition = Omit<ResourceDefinition, "uri" | "size"> & { uriTemplate: string };

export type PromptArgument = { name: string; description?: string; required?: boolean };

export type PromptDefinition = {
  name: string;
  title: string | null;
  description: string | null;
  arguments: PromptArgument[] | null;
  meta: JsonObject | null;
  definitionHash: string;
};

export type CatalogKind = "resources" | "resourceTemplates" | "prompts";

/** What a list holds, by kind. */
export type CatalogDefinition = {
  resources: ResourceDefinition;
  resourceTemplates: ResourceTemplateDefinition;
  prompts: PromptDefinition;
};

/** The key that identifies an entry of a list (a resource's URI, a template's URI template, a prompt's name). */
export function catalogKey<K extends CatalogKind>(kind: K, d: CatalogDefinition[K]): string {
  if (kind === "resources") return (d as ResourceDefinition).uri;
  if (kind === "resourceTemplates") return (d as ResourceTemplateDefinition).uriTemplate;
  return (d as PromptDefinition).name;
}

const hashOf = (fields: object) => hash("sha256", JSON.stringify(fields), "hex");

/**
 * Whether a key can be stored as sent: null when it is unusable (not a non-empty string: skipped, as for tools),
 * else why not (NUL, invalid Unicode, longer than `max` UTF-8 bytes: the key is indexed), or undefined.
 */
function keyProblem(v: unknown, max: number, what: string): string | undefined | null {
  if (typeof v !== "string" || !v) return null;
  if (v.includes("\0")) return `its ${what} contains a NUL character`;
  if (!v.isWellFormed()) return `its ${what} is not valid Unicode`;
  if (Buffer.byteLength(v) > max) return `its ${what} is longer than ${max} bytes`;
  return undefined;
}

/** Normalizes one entry of resources/list, resources/templates/list or prompts/list, like normalizeTool. */
export function normalizeEntry<K extends CatalogKind>(
  kind: K,
  raw: unknown,
): CatalogDefinition[K] | { refused: RefusedTool } | undefined {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const keyField = kind === "resources" ? "uri" : kind === "resourceTemplates" ? "uriTemplate" : "name";
  const key = r[keyField];
  const problem = keyProblem(key, kind === "prompts" ? 4 * MAX_NAME : MAX_URI, keyField);
  if (problem === null) return undefined;
  const refuse = (reason: string) => ({
    refused: { name: text(key, 64)!, reason, kind: "storage" as const },
  });
  if (problem) return refuse(problem);
  const keyText = key as string;
  const json = [r.annotations, r._meta].map((v) => (isObject(v) ? v : null));
  const args = kind === "prompts" && Array.isArray(r.arguments) ? r.arguments : null;
  for (const v of [...json, args]) {
    const p = v && jsonProblem(v);
    if (p) return refuse(`its definition ${p.text}`);
  }
  const [annotations, meta] = json.map((v) => v && (copyJson(v) as JsonObject));
  const common = {
    title: text(r.title, 1024),
    description: text(r.description),
  };
  if (kind === "prompts") {
    const list = args
      ?.filter(
        (a): a is Record<string, unknown> =>
          isObject(a) && typeof (a as { name?: unknown }).name === "string",
      )
      .map((a) => ({
        name: text(a.name, MAX_NAME)!,
        ...(typeof a.description === "string" && { description: text(a.description)! }),
        ...(typeof a.required === "boolean" && { required: a.required }),
      }));
    const d = { name: keyText, ...common, arguments: list ?? null, meta };
    return { ...d, definitionHash: hashOf(d) } as CatalogDefinition[K];
  }
  const name = text(r.name, MAX_NAME) ?? text(keyText, MAX_NAME)!;
  const base = { name, ...common, mimeType: text(r.mimeType, 256), annotations, meta };
  if (kind === "resourceTemplates") {
    const d = { uriTemplate: keyText, ...base };
    return { ...d, definitionHash: hashOf(d) } as CatalogDefinition[K];
  }
  const size = typeof r.size === "number" && Number.isSafeInteger(r.size) && r.size >= 0 ? r.size : null;
  const d = { uri: keyText, ...base, size };
  return { ...d, definitionHash: hashOf(d) } as CatalogDefinition[K];
}

const LISTS = {
  resources: { method: "resources/list", field: "resources", capability: "resources", noun: "resources" },
  resourceTemplates: {
    method: "resources/templates/list",
    field: "resourceTemplates",
    capability: "resources",
    noun: "resource templates",
  },
  prompts: { method: "prompts/list", field: "prompts", capability: "prompts", noun: "prompts" },
} as const;

/** One list's outcome: its entries, those left out, or — when the list failed — why (the tools still sync). */
export type ListOutcome<K extends CatalogKind> = {
  items: CatalogDefinition[K][];
  refused: RefusedTool[];
  /** set when the list could not be read; the stored list is then kept as it was */
  failed?: string;
  /** false when the server does not offer this list (nothing is stored) */
  offered: boolean;
};

/**
 * Walks every page of one list with explicit cursors (the SDK's per-page path), within the caps of tools:
 * at most MAX_TOOLS entries and MAX_PAGES pages, a repeated cursor ends it as an error. Never throws: a
 * failure is returned as `failed` so one bad list doesn't fail the sync.
 */
export async function listAll<K extends CatalogKind>(
  conn: McpConnection,
  kind: K,
  opts: { timeoutMs?: number } = {},
): Promise<ListOutcome<K>> {
  const spec = LISTS[kind];
  const items = new Map<string, CatalogDefinition[K]>();
  const refused: RefusedTool[] = [];
  if (!conn.client.getServerCapabilities()?.[spec.capability]) return { items: [], refused, offered: false };
  const seen = new Set<string>();
  let cursor: string | undefined;
  try {
    for (let page = 1; ; page++) {
      const params = cursor === undefined ? {} : { cursor };
      const options = { timeout: opts.timeoutMs ?? 30_000 };
      const c = conn.client;
      const result = (
        kind === "resources"
          ? await c.listResources(params, options)
          : kind === "resourceTemplates"
            ? await c.listResourceTemplates(params, options)
            : await c.listPrompts(params, options)
      ) as Record<string, unknown>;
      const list = result[spec.field];
      if (!Array.isArray(list)) throw new Error(`the server's ${spec.method} result has no list`);
      for (const raw of list as unknown[]) {
        const n = normalizeEntry(kind, raw);
        if (n && "refused" in n) refused.push(n.refused);
        else if (n && !items.has(catalogKey(kind, n))) items.set(catalogKey(kind, n), n);
        if (items.size + refused.length > MAX_TOOLS) {
          throw new Error(`the server lists more than ${MAX_TOOLS} ${spec.noun}`);
        }
      }
      const next = result.nextCursor;
      if (typeof next !== "string" || next === "") break;
      if (seen.has(next)) throw new Error(`the server's ${spec.method} pagination loops (a cursor repeated)`);
      if (page >= MAX_PAGES)
        throw new Error(`the server's ${spec.method} goes on for more than ${MAX_PAGES} pages`);
      seen.add(next);
      cursor = next;
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { items: [], refused, offered: true, failed: text(why, 300) ?? "it failed" };
  }
  return { items: [...items.values()], refused, offered: true };
}
