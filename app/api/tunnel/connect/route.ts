// GET /api/tunnel/connect — the `poke tunnel` WebSocket endpoint; plain HTTP requests get 426.
// The upgrade itself never reaches Next.js: server.ts hands it to lib/tunnel/server.ts.
import { jsonError } from "@/lib/http";

export const dynamic = "force-dynamic";

export function GET() {
  return jsonError("upgrade_required", "This endpoint speaks WebSocket: connect with `poke tunnel`.", 426, {
    Upgrade: "websocket",
  });
}
