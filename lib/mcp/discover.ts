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

/** A listed tool that can't be stored, and why (shown on the integration). */
export type RefusedTool = { name: string; reason: string };

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
 * whose name the database can't store as sent (a tool's name is its identity: it is never altered) or whose
 * definition is nested too deep or too large (lib/limits/json-shape.ts).
 */
export function normalizeTool(raw: unknown): ToolDefinition | { refused: RefusedTool } | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const r = raw as Record<string, unknown>;
  const name = typeof r.name === "string" ? r.name : "";
  if (!name || name.length > MAX_NAME) return undefined;
  if (name.includes("\0") || !name.isWellFormed()) {
    const reason = name.includes("\0")
      ? "its name contains a NUL character"
      : "its name is not valid Unicode";
    return { refused: { name: text(name, 64)!, reason } };
  }
  const json = [r.inputSchema, r.outputSchema, r.annotations, r._meta].map((v) => (isObject(v) ? v : null));
  for (const v of json) {
    const problem = v && jsonProblem(v);
    // Too deep or too large to store, hash or show: only this tool is left out (docs/security.md §17).
    if (problem) return { refused: { name: text(name, 64)!, reason: `its definition ${problem.text}` } };
  }
  const [inputSchema, outputSchema, annotations, meta] = json.map((v) => v && (copyJson(v) as JsonObject));
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
): Promise<Pick<Discovery, "tools" | "refused">> {
  const tools = new Map<string, ToolDefinition>();
  const refused: RefusedTool[] = [];
  if (!conn.client.getServerCapabilities()?.tools) return { tools: [], refused };
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
      const n = normalizeTool(raw);
      if (n && "refused" in n) refused.push(n.refused);
      else if (n && !tools.has(n.name)) tools.set(n.name, n);
      if (tools.size + refused.length > MAX_TOOLS) {
        throw new AppError(
          "too_many_tools",
          `The server lists more than ${MAX_TOOLS} tools; Poke supports at most ${MAX_TOOLS}.`,
          502,
        );
      }
    }
    if (stop) throw stop;
  }
  return { tools: [...tools.values()], refused };
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
