// Discovery: server metadata plus every page of tools/list, within SECURITY §14 limits. Everything the
// server sends is treated as data: copied without prototype-polluting keys, depth-checked, hashed.
import { hash } from "node:crypto";
import { AppError } from "@/lib/errors";
import type { McpConnection, TransportKind } from "@/lib/mcp/connect";
import { classifyMcpError } from "@/lib/mcp/errors";

export const MAX_TOOLS = 1000;
export const MAX_PAGES = 50;
export const MAX_JSON_DEPTH = 64;
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
  definitionHash: string;
};

/** An object key JavaScript enumerates before all others, in numeric order. */
const INDEX_LIKE = /^(?:0|[1-9]\d{0,9})$/;

/**
 * Copies server JSON: drops `__proto__`, rejects depth > 64, keeps only JSON types, and inserts every
 * object's keys in sorted order (noting in `keys` whether any is array-index-like, see sortedText).
 */
export function sanitizeJson(
  value: unknown,
  what: string,
  keys: { indexLike: boolean } = { indexLike: false },
  depth = 0,
): JsonValue {
  if (depth > MAX_JSON_DEPTH) {
    throw new AppError("too_deep", `${what} is nested more than ${MAX_JSON_DEPTH} levels deep.`, 502);
  }
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map((v) => sanitizeJson(v, what, keys, depth + 1));
  if (typeof value === "object") {
    const out: JsonObject = {};
    const src = value as Record<string, unknown>;
    for (const k of Object.keys(src).sort()) {
      const v = src[k];
      if (k === "__proto__" || v === undefined) continue;
      if (!keys.indexLike && INDEX_LIKE.test(k)) keys.indexLike = true;
      out[k] = sanitizeJson(v, what, keys, depth + 1);
    }
    return out;
  }
  return null;
}

function objectOrNull(v: unknown, what: string, keys?: { indexLike: boolean }): JsonObject | null {
  if (v === undefined || v === null || typeof v !== "object" || Array.isArray(v)) return null;
  return sanitizeJson(v, what, keys) as JsonObject;
}

function text(v: unknown, max = MAX_TEXT): string | null {
  return typeof v === "string" ? v.slice(0, max) : null;
}

/** Canonical JSON: sorted keys, so equal definitions hash equally whatever the server's key order. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`;
  const keys = Object.keys(v as object).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(",")}}`;
}

export function definitionHash(t: Omit<ToolDefinition, "definitionHash">): string {
  return hash("sha256", stableStringify(definitionFields(t)), "hex");
}

const definitionFields = (t: Omit<ToolDefinition, "definitionHash">) => ({
  name: t.name,
  title: t.title,
  description: t.description,
  inputSchema: t.inputSchema,
  outputSchema: t.outputSchema,
  annotations: t.annotations,
});

/** The fields of a definition record, in its order. */
export const RECORD_FIELDS = [
  "name",
  "title",
  "description",
  "inputSchema",
  "outputSchema",
  "annotations",
  "definitionHash",
] as const satisfies readonly (keyof ToolDefinition)[];

/**
 * A tool's definition as a compact JSON array for storage: its RECORD_FIELDS in order, a missing one as null.
 */
export function definitionRecord(t: ToolDefinition): string {
  return record(fieldTexts(t), t.definitionHash);
}

type FieldTexts = Record<Exclude<keyof ToolDefinition, "definitionHash">, string>;

const fieldTexts = (t: Omit<ToolDefinition, "definitionHash">): FieldTexts => ({
  name: JSON.stringify(t.name),
  title: JSON.stringify(t.title),
  description: JSON.stringify(t.description),
  inputSchema: JSON.stringify(t.inputSchema),
  outputSchema: JSON.stringify(t.outputSchema),
  annotations: JSON.stringify(t.annotations),
});

const record = (f: FieldTexts, hash: string) =>
  `[${RECORD_FIELDS.map((k) => (k === "definitionHash" ? JSON.stringify(hash) : f[k])).join(",")}]`;

/** Normalizes one tools/list entry; returns undefined for entries without a usable name. */
export function normalizeTool(raw: unknown): ToolDefinition | undefined {
  return normalized(raw)?.tool;
}

/** normalizeTool, with the tool's definitionRecord made of the field texts its hash was taken of. */
function normalized(raw: unknown): { tool: ToolDefinition; record: string } | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const r = raw as Record<string, unknown>;
  const name = typeof r.name === "string" ? r.name : "";
  if (!name || name.length > MAX_NAME) return undefined;
  const what = `The definition of tool "${name.slice(0, 64)}"`;
  const keys = { indexLike: false };
  const t = {
    name,
    title: text(r.title, 1024) ?? text((r.annotations as Record<string, unknown> | undefined)?.title, 1024),
    description: text(r.description),
    inputSchema: objectOrNull(r.inputSchema, what, keys) ?? { type: "object" },
    outputSchema: objectOrNull(r.outputSchema, what, keys),
    annotations: objectOrNull(r.annotations, what, keys),
  };
  const f = fieldTexts(t);
  const canonical = keys.indexLike ? stableStringify(definitionFields(t)) : sortedText(f);
  const definitionHash = hash("sha256", canonical, "hex");
  return { tool: { ...t, definitionHash }, record: record(f, definitionHash) };
}

// A 1000-tool catalog is normalized on every sync, so hashing avoids stableStringify's string building:
// the copies are made with their keys already sorted, and JSON.stringify of them is the same canonical text —
// except where an object has array-index-like keys ("0", "12"), which JavaScript always enumerates first,
// in numeric order; those definitions take stableStringify. The hashes are identical either way.

/** stableStringify's text for a definition whose objects all have sorted, non-index-like keys. */
function sortedText(f: FieldTexts): string {
  // Keys in sorted order, as stableStringify writes them.
  return `{"annotations":${f.annotations},"description":${f.description},"inputSchema":${f.inputSchema},"name":${f.name},"outputSchema":${f.outputSchema},"title":${f.title}}`;
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

/** One tools/list page as discovery reads it. */
type ToolsPage = { tools: unknown[]; nextCursor?: unknown };

/**
 * The result check for tools/list: the page's shape only. Each entry is then read field by field by
 * normalizeTool (which keeps nothing it has not checked), so the SDK's own deep schema validation of every
 * tool — the most expensive part of listing a thousand tools — would check the same data twice.
 */
const TOOLS_PAGE = {
  "~standard": {
    version: 1,
    vendor: "poke",
    validate: (v: unknown) =>
      v && typeof v === "object" && Array.isArray((v as { tools?: unknown }).tools)
        ? { value: v as ToolsPage }
        : { issues: [{ message: "tools/list result has no tools array" }] },
  },
} as const;

/**
 * Walks every tools/list page with explicit cursors so the tool and page caps apply as we go. The next
 * page is requested before the current one is normalized, so that work overlaps the server's; the caps
 * and their order are the same as checking one page at a time.
 */
export async function listAllTools(
  conn: McpConnection,
  opts: { timeoutMs?: number } = {},
): Promise<Pick<Discovery, "tools" | "records">> {
  const tools = new Map<string, ToolDefinition>();
  const records = new Map<string, string>();
  if (!conn.client.getServerCapabilities()?.tools) return { tools: [], records };
  const request = (cursor: string | undefined) => {
    const p = conn.client.request(
      { method: "tools/list", params: cursor === undefined ? {} : { cursor } },
      TOOLS_PAGE,
      { timeout: opts.timeoutMs ?? 30_000 },
    );
    p.catch(() => {}); // an error thrown below may leave it unawaited
    return p;
  };
  const seenCursors = new Set<string>();
  let pending: ReturnType<typeof request> | undefined = request(undefined);
  for (let page = 0; pending; page++) {
    const res = (await pending) as ToolsPage;
    pending = undefined;
    const next = res.nextCursor;
    let stop: AppError | undefined;
    if (typeof next === "string" && next !== "") {
      if (seenCursors.has(next)) {
        stop = new AppError(
          "too_many_pages",
          "The server's tool list pagination loops (a cursor repeated).",
          502,
        );
      } else if (page + 1 >= MAX_PAGES) {
        stop = new AppError(
          "too_many_pages",
          `The server's tool list goes on for more than ${MAX_PAGES} pages.`,
          502,
        );
      } else {
        seenCursors.add(next);
        pending = request(next);
      }
    }
    // Let the next request reach the socket before normalizing, so the server works on the next page
    // meanwhile: undici writes a request on a reused keep-alive socket from an Immediate queued after ours,
    // so the normalizing starts from the Immediate after that.
    if (pending) await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
    for (const raw of res.tools) {
      const n = normalized(raw);
      if (n && !tools.has(n.tool.name)) {
        tools.set(n.tool.name, n.tool);
        records.set(n.tool.name, n.record);
      }
      if (tools.size > MAX_TOOLS) {
        throw new AppError(
          "too_many_tools",
          `The server lists more than ${MAX_TOOLS} tools; Poke supports at most ${MAX_TOOLS}.`,
          502,
        );
      }
    }
    if (stop) throw stop;
  }
  return { tools: [...tools.values()], records };
}

export type Discovery = {
  server: ServerMeta;
  tools: ToolDefinition[];
  /** Each listed tool's definitionRecord by name, made while the next page was on its way. */
  records: ReadonlyMap<string, string>;
};

/** Metadata + all tools, errors classified. */
export async function discover(
  conn: McpConnection,
  ctx: { url: URL; hasApiKey: boolean; oauthGranted?: boolean },
  opts: { timeoutMs?: number } = {},
): Promise<Discovery> {
  conn.fetch.lastError = undefined;
  try {
    return { server: serverMeta(conn), ...(await listAllTools(conn, opts)) };
  } catch (err) {
    throw classifyMcpError(err, { ...ctx, egress: conn.fetch });
  }
}
