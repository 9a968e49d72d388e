// * /api/tunnel/:id/… — the URL of a tunneled integration. The MCP engine reaches it in-process over the
// owner's tunnel socket (lib/tunnel/fetch.ts); over plain HTTP it is deliberately closed, so the tunnel
// is never a public way into someone's machine. The one exception is POST /api/tunnel/:id/relay signed by
// another instance of this deployment, which relays a call to the instance holding the socket
// (lib/tunnel/cluster.ts, docs/deploy.md).
// NB: no route may match /api/tunnel/connect itself (hence the required catch-all here): Next.js ends any
// upgrade request whose path matches an app route, before the tunnel endpoint could accept it.
import { jsonError } from "@/lib/http";
import { handleRelay, RELAY_HEADER } from "@/lib/tunnel/cluster";

export const dynamic = "force-dynamic";

const closed = () =>
  jsonError(
    "not_found",
    "Tunneled servers are reachable only through Poke itself (the integration's tools and /api/mcp).",
    404,
  );

export async function POST(req: Request, ctx: { params: Promise<{ id: string; path: string[] }> }) {
  const { id, path } = await ctx.params;
  if (path.length === 1 && path[0] === "relay" && req.headers.has(RELAY_HEADER)) return handleRelay(req, id);
  return closed();
}

export { closed as GET, closed as PUT, closed as PATCH, closed as DELETE };
