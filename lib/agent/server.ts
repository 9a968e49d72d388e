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
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: { listChanged: true } },
    ...(catalog.instructions ? { instructions: catalog.instructions } : {}),
  });
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
