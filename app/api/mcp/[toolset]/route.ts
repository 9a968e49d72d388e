// GET|POST|DELETE /api/mcp/[toolset] — a toolset's agent endpoint: an MCP server (Streamable HTTP, 2026-07-28
// and 2025 clients) exposing the toolset's tools (or, in search mode, tools to search, describe and call them).
import { handleToolsetRequest } from "@/lib/agent/endpoint";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export { handleToolsetRequest as GET, handleToolsetRequest as POST, handleToolsetRequest as DELETE };
