// * /api/tunnel/:id/… — the URL of a tunneled integration. The MCP engine reaches it in-process over the
// owner's tunnel socket (lib/tunnel/fetch.ts); over plain HTTP it is deliberately closed, so the tunnel
// is never a public way into someone's machine.
// NB: no route may match /api/tunnel/connect itself (hence the required catch-all here): Next.js ends any
// upgrade request whose path matches an app route, before the tunnel endpoint could accept it.
import { jsonError } from "@/lib/http";

export const dynamic = "force-dynamic";

const closed = () =>
  jsonError(
    "not_found",
    "Tunneled servers are reachable only through Poke itself (the integration's tools and /api/mcp).",
    404,
  );

export { closed as GET, closed as POST, closed as PUT, closed as PATCH, closed as DELETE };
