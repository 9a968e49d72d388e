// GET|POST|DELETE /api/mcp — the agent endpoint: an MCP server (Streamable HTTP, 2026-07-28 and 2025 clients)
// exposing every enabled tool of the API token owner's integrations as <integration>__<tool>.
import { handleAgentRequest } from "@/lib/agent/endpoint";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export { handleAgentRequest as GET, handleAgentRequest as POST, handleAgentRequest as DELETE };
