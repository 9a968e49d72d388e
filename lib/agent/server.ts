// The MCP server the agent endpoint serves for one user: a low-level `Server` (schemas pass through verbatim)
// whose tools/list and tools/call are computed from that user's catalog only. Built per request (modern) or
// per session (legacy); everything it needs is bound to the authenticated user id at construction.
import {
  ProtocolError,
  ProtocolErrorCode,
  Server,
  type CallToolResult,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { BLOCKED_STATUSES, loadCatalog, type CatalogTool } from "@/lib/agent/catalog";
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

export async function buildAgentServer(userId: string): Promise<Server> {
  const catalog = await loadCatalog(userId);
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: { listChanged: true } },
    ...(catalog.instructions ? { instructions: catalog.instructions } : {}),
  });
  server.setRequestHandler("tools/list", async (req) => {
    const { tools } = await loadCatalog(userId);
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
  server.setRequestHandler("tools/call", async (req, ctx) =>
    callForAgent(userId, req.params.name, req.params.arguments, ctx),
  );
  return server;
}

async function callForAgent(
  userId: string,
  name: string,
  args: Record<string, unknown> | undefined,
  ctx: ServerContext,
): Promise<CallToolResult> {
  const { byName } = await loadCatalog(userId);
  const tool = byName.get(name);
  if (!tool) {
    // Unknown tool names are a protocol error (spec); the hint covers a catalog that changed since listing.
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      `Unknown tool: ${name.slice(0, 128)}. List the tools again: your integrations may have changed.`,
    );
  }
  if (BLOCKED_STATUSES.has(tool.status)) return errorResult(blockedMessage(tool));
  try {
    const { result } = await callIntegrationTool(
      { id: userId },
      tool.integrationId,
      tool.toolName,
      { arguments: args ?? {} },
      "agent",
      { signal: ctx.mcpReq.signal },
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
