// POST /api/mcp/sse/messages?sessionId=… — a JSON-RPC message for an HTTP+SSE session (answered 202; the
// response arrives on the session's event stream).
import { handleSseMessage } from "@/lib/agent/sse";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export { handleSseMessage as POST };
