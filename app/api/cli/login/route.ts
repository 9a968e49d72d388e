// POST /api/cli/login — `poke login` starts a device-style login ({ host? }); returns the code to show, the
// approval link for the browser and the secret poll token. Unauthenticated by design: nothing is granted
// until a signed-in person approves the code. Each call stores a row, so calls are limited per client
// address (429 with Retry-After; docs/security.md §25).
import { z } from "zod";
import { clientAddress } from "@/lib/auth/client-address";
import { throttleCliLogin } from "@/lib/auth/login-throttle";
import { errorResponse, parseBody } from "@/lib/http";
import { startCliLogin } from "@/lib/tunnel/cli-login";

export const dynamic = "force-dynamic";

const bodySchema = z.object({ host: z.string().max(200).optional() });

export async function POST(req: Request) {
  try {
    await throttleCliLogin(clientAddress(req.headers));
    const { host } = await parseBody(req, bodySchema);
    const login = await startCliLogin(host);
    return Response.json({ ...login, expiresAt: login.expiresAt.toISOString() }, { status: 201 });
  } catch (e) {
    return errorResponse(e, "/api/cli/login");
  }
}
