// GET /api/mcp/sse — the agent endpoint over the HTTP+SSE transport (protocol 2024-11-05): opens a session's
// event stream; its first event names the message endpoint.
import { handleSseStream } from "@/lib/agent/sse";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export function GET(req: Request): Promise<Response> {
  return handleSseStream(req);
}
