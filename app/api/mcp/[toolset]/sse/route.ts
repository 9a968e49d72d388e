// GET /api/mcp/[toolset]/sse — a toolset's agent endpoint over the HTTP+SSE transport (protocol 2024-11-05);
// its messages go to /api/mcp/sse/messages like the whole endpoint's.
import { handleSseStream } from "@/lib/agent/sse";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function GET(req: Request, ctx: { params: Promise<{ toolset: string }> }): Promise<Response> {
  return handleSseStream(req, (await ctx.params).toolset);
}
