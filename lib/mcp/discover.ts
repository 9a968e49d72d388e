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
  const { annotations, description, inputSchema, meta, name, outputSchema, title } = t;
  const fields = meta
    ? { annotations, description, inputSchema, meta, name, outputSchema, title }
    : { annotations, description, inputSchema, name, outputSchema, title };
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
  const json = [r.inputSchema, r.outputSchema, r.annotations, r._meta].map((v) => (isObject(v) ? v : null));
  for (const v of json) {
    const problem = v && jsonProblem(v);
    // Too deep or too large to store, hash or show: only this tool is left out (docs/security.md §17).
    if (problem) return refuse(`its definition ${problem.text}`);
  }
  const [inputSchema, outputSchema, annotations, meta] = json.map((v) => v && (copyJson(v) as JsonObject));
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
};

/** Metadata + all tools, errors classified. */
export async function discover(
  conn: McpConnection,
  ctx: { url: URL; hasApiKey: boolean; oauthGranted?: boolean },
  opts: { timeoutMs?: number } = {},
): Promise<Discovery> {
  try {
    return { server: serverMeta(conn), ...(await listAllTools(conn, opts)) };
  } catch (err) {
    throw classifyMcpError(err, ctx);
  }
}
