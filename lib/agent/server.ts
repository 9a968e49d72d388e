// The MCP server the agent endpoint serves for one view (lib/agent/toolsets.ts): a low-level `Server` (schemas
// pass through verbatim) whose tools/list and tools/call are computed from that user's catalog only — all of it
// on /api/mcp, a toolset's selection on /api/mcp/<toolset>, or the three search tools in search mode. Built per
// request (modern) or per session (legacy); everything it needs is bound to the authenticated view.
import {
  ProtocolError,
  ProtocolErrorCode,
  Server,
  type CallToolResult,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { BLOCKED_STATUSES, type CatalogTool } from "@/lib/agent/catalog";
import { getAgentPrompt, loadAgentLists, readAgentResource } from "@/lib/agent/lists";
import { callSearchModeTool, SEARCH_MODE_TOOLS } from "@/lib/agent/search";
import {
  callRefusal,
  loadView,
  rememberServed,
  type AgentView,
  type ViewCatalog,
} from "@/lib/agent/toolsets";
import { callIntegrationTool } from "@/lib/data/integrations";
import { env } from "@/lib/env";
import { isAppError } from "@/lib/errors";
import { log } from "@/lib/log";

export const SERVER_INFO = { name: "poke", title: "Poke", version: "0.1.0" };
const PAGE_SIZE = 500;
/** Errors after which the person has to act on the integration page. */
const NEEDS_PERSON = new Set([
  "needs_auth",
  "needs_reauth",
  "insufficient_scope",
  "unauthorized",
  "forbidden",
  "tunnel_offline",
]);

export async function buildAgentServer(view: AgentView): Promise<Server> {
  const catalog = await loadView(view);
  // Resources and prompts are on the whole endpoint only: a toolset selects tools (docs/agents.md).
  const lists = !view.toolsetId;
  const server = new Server(SERVER_INFO, {
    capabilities: {
      tools: { listChanged: true },
      ...(lists && { resources: { listChanged: true }, prompts: { listChanged: true } }),
    },
    ...(catalog.instructions ? { instructions: catalog.instructions } : {}),
  });
  if (lists) serveLists(server, view.userId);
  server.setRequestHandler("tools/list", async (req) => {
    const current = await loadView(view);
    rememberServed(view, current);
    if (current.searchMode) return { tools: SEARCH_MODE_TOOLS };
    const { tools } = current;
    const start = Number(req.params?.cursor ?? 0);
    if (!Number.isInteger(start) || start < 0 || start > tools.length) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, "Invalid cursor");
    }
    const end = start + PAGE_SIZE;
    return {
      tools: tools.slice(start, end).map((t) => t.definition),
      ...(end < tools.length ? { nextCursor: String(end) } : {}),
    };
  });
  server.setRequestHandler("tools/call", async (req, ctx) => {
    const current = await loadView(view);
    const direct = (tool: CatalogTool, args: Record<string, unknown> | undefined) =>
      callForAgent(view, current, tool, args, ctx);
    if (current.searchMode) {
      const result = await callSearchModeTool(
        { key: view.key, catalog: current },
        req.params.name,
        req.params.arguments,
        direct,
      );
      if (result) return result;
      throw unknownTool(req.params.name);
    }
    const tool = current.byName.get(req.params.name);
    if (!tool) throw unknownTool(req.params.name);
    return direct(tool, req.params.arguments);
  });
  return server;
}

/** A cursor into a list: an index, or a protocol error. */
function paged<T>(list: T[], cursor: string | undefined): { items: T[]; nextCursor?: string } {
  const start = Number(cursor ?? 0);
  if (!Number.isInteger(start) || start < 0 || start > list.length) {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, "Invalid cursor");
  }
  const end = start + PAGE_SIZE;
  return { items: list.slice(start, end), ...(end < list.length ? { nextCursor: String(end) } : {}) };
}

/** resources/list, resources/templates/list, resources/read, prompts/list and prompts/get of the user's lists. */
function serveLists(server: Server, userId: string): void {
  server.setRequestHandler("resources/list", async (req) => {
    const { items, nextCursor } = paged((await loadAgentLists(userId)).resources, req.params?.cursor);
    return { resources: items, ...(nextCursor && { nextCursor }) };
  });
  server.setRequestHandler("resources/templates/list", async (req) => {
    const { items, nextCursor } = paged((await loadAgentLists(userId)).resourceTemplates, req.params?.cursor);
    return { resourceTemplates: items, ...(nextCursor && { nextCursor }) };
  });
  server.setRequestHandler("prompts/list", async (req) => {
    const { items, nextCursor } = paged((await loadAgentLists(userId)).prompts, req.params?.cursor);
    return { prompts: items, ...(nextCursor && { nextCursor }) };
  });
  server.setRequestHandler("resources/read", async (req) =>
    forwarded((lists) => readAgentResource(userId, lists, req.params.uri)),
  );
  server.setRequestHandler("prompts/get", async (req) =>
    forwarded((lists) => getAgentPrompt(userId, lists, req.params.name, req.params.arguments)),
  );
  /** Runs a read or get against the lists as they are now (they change with every sync). */
  async function forwarded<T extends object>(
    run: (
      lists: Awaited<ReturnType<typeof loadAgentLists>>,
    ) => Promise<T | { error: string; notFound?: boolean }>,
  ): Promise<T> {
    const lists = await loadAgentLists(userId);
    let out: T | { error: string; notFound?: boolean };
    try {
      out = await run(lists);
    } catch (err) {
      if (!isAppError(err)) {
        log.error("agent resource or prompt request failed", { err: String(err) });
        throw new ProtocolError(
          ProtocolErrorCode.InternalError,
          "The request failed unexpectedly. Try again.",
        );
      }
      throw new ProtocolError(ProtocolErrorCode.InternalError, err.message, { code: err.code });
    }
    if ("error" in out && typeof out.error === "string") {
      throw new ProtocolError(
        out.notFound ? ProtocolErrorCode.InvalidParams : ProtocolErrorCode.InternalError,
        out.error,
      );
    }
    return out as T;
  }
}

function unknownTool(name: string): ProtocolError {
  // Unknown tool names are a protocol error (spec); the hint covers a catalog that changed since listing.
  return new ProtocolError(
    ProtocolErrorCode.InvalidParams,
    `Unknown tool: ${name.slice(0, 128)}. List the tools again: your integrations may have changed.`,
  );
}

/** One call of a tool the view exposes: the same path (validation, limits, history, errors) in every mode. */
async function callForAgent(
  view: AgentView,
  catalog: ViewCatalog,
  tool: CatalogTool,
  args: Record<string, unknown> | undefined,
  ctx: ServerContext,
): Promise<CallToolResult> {
  const userId = view.userId;
  const refused = await callRefusal(view, catalog, tool);
  if (refused) return errorResult(refused, "read_only");
  if (BLOCKED_STATUSES.has(tool.status)) return errorResult(blockedMessage(tool));
  try {
    const { result } = await callIntegrationTool(
      { id: userId },
      tool.integrationId,
      tool.toolName,
      { arguments: args ?? {} },
      "agent",
      {
        signal: ctx.mcpReq.signal,
        via: { toolsetId: view.toolsetId, apiTokenId: ctx.http?.authInfo?.token },
      },
    );
    return result;
  } catch (err) {
    if (!isAppError(err)) {
      log.error("agent tool call failed", { integrationId: tool.integrationId, err: String(err) });
      return errorResult(`${tool.integrationName}: the call failed unexpectedly. Try again.`);
    }
    const fix = NEEDS_PERSON.has(err.code) ? ` Fix it at ${integrationLink(tool)}` : "";
    const retry =
      typeof err.details?.retryAfterSec === "number" ? ` (retry after ${err.details.retryAfterSec} s)` : "";
    return errorResult(`Integration "${tool.integrationName}": ${err.message}${retry}${fix}`, err.code);
  }
}

function integrationLink(tool: CatalogTool): string {
  return `${env().APP_URL}/integrations/${tool.integrationId}`;
}

function blockedMessage(tool: CatalogTool): string {
  const link = integrationLink(tool);
  switch (tool.status) {
    case "offline":
      return `Integration "${tool.integrationName}" is offline: its tunnel is not connected. Start \`poke tunnel\` for it again, or check ${link}`;
    case "needs_auth":
      return `Integration "${tool.integrationName}" is not authorized yet. Ask the person to connect it at ${link}`;
    default:
      return `Integration "${tool.integrationName}" needs to be reconnected: its authorization expired or was revoked. Ask the person to reconnect it at ${link}`;
  }
}

function errorResult(text: string, code?: string): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text }],
    ...(code ? { _meta: { "poke/errorCode": code } } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// SEP-2243 on the endpoint (docs/protocol.md): a 2026-07-28 tools/call of a tool whose inputSchema declares
// `x-mcp-header` parameters must carry each given value in its `Mcp-Param-<Name>` header as well, so
// intermediaries can route on it; a missing, malformed or disagreeing header is refused with HTTP 400 and
// -32020 (HeaderMismatch) before the call runs. The SDK checks this only for tools registered on an
// McpServer; the endpoint passes definitions through verbatim on a low-level Server, so it checks here.

const HEADER_MISMATCH = -32020;
const BASE64_SENTINEL = /^=\?base64\?(.*)\?=$/;

type HeaderDeclaration = { path: string[]; header: string; type: unknown };

/** `x-mcp-header` declarations reachable through `properties` chains (the only place the revision allows). */
export function headerDeclarations(schema: unknown, path: string[] = []): HeaderDeclaration[] {
  const props = (schema as { properties?: unknown } | null)?.properties;
  if (!props || typeof props !== "object" || Array.isArray(props)) return [];
  const out: HeaderDeclaration[] = [];
  for (const [key, sub] of Object.entries(props as Record<string, unknown>)) {
    if (!sub || typeof sub !== "object") continue;
    const header = (sub as Record<string, unknown>)["x-mcp-header"];
    if (typeof header === "string" && header) {
      out.push({ path: [...path, key], header, type: (sub as { type?: unknown }).type });
    }
    out.push(...headerDeclarations(sub, [...path, key]));
  }
  return out;
}

/** A header value as sent: plain, or `=?base64?…?=` (canonical Base64 of UTF-8). undefined: malformed. */
function decodeHeaderValue(raw: string): string | undefined {
  const m = BASE64_SENTINEL.exec(raw);
  if (!m) return raw;
  const b64 = m[1];
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  const bytes = Buffer.from(b64, "base64");
  if (bytes.toString("base64") !== b64) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function headerMatches(decl: HeaderDeclaration, value: unknown, decoded: string): boolean {
  const numeric = decl.type === "integer" || decl.type === "number";
  if (numeric && typeof value === "number") {
    return /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(decoded) && Number(decoded) === value;
  }
  return decoded === String(value);
}

/** The HTTP 400 / -32020 answer for a tools/call whose `Mcp-Param-*` headers disagree with its arguments. */
export async function paramHeaderRejection(
  view: AgentView,
  body: unknown,
  headers: Headers,
): Promise<Response | undefined> {
  const msg = body as { method?: unknown; id?: unknown; params?: { name?: unknown; arguments?: unknown } };
  if (!msg || typeof msg !== "object" || Array.isArray(msg) || msg.method !== "tools/call") return undefined;
  const name = msg.params?.name;
  if (typeof name !== "string") return undefined;
  // A view that fails to load (a toolset deleted meanwhile) is answered by the call itself.
  const catalog = await loadView(view).catch(() => undefined);
  if (!catalog || catalog.searchMode) return undefined;
  const tool = catalog.byName.get(name);
  if (!tool) return undefined;
  const args = msg.params?.arguments;
  for (const decl of headerDeclarations(tool.definition.inputSchema)) {
    let value: unknown = args;
    for (const key of decl.path) value = (value as Record<string, unknown> | undefined)?.[key];
    if (value === undefined || value === null || typeof value === "object") continue;
    const headerName = `Mcp-Param-${decl.header}`;
    const raw = headers.get(headerName);
    const decoded = raw === null ? undefined : decodeHeaderValue(raw);
    let problem: string | undefined;
    if (raw === null) problem = `the ${headerName} header is missing`;
    else if (decoded === undefined) problem = `the ${headerName} header is not valid Base64 of UTF-8`;
    else if (!headerMatches(decl, value, decoded)) {
      problem = `the ${headerName} header does not match the argument ${decl.path.join(".")}`;
    }
    if (problem) {
      return Response.json(
        {
          jsonrpc: "2.0",
          id: msg.id ?? null,
          error: {
            code: HEADER_MISMATCH,
            message: `Header mismatch: ${problem}`,
            data: { header: headerName },
          },
        },
        { status: 400 },
      );
    }
  }
  return undefined;
}
