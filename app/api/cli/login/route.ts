// POST /api/cli/login — `poke login` starts a device-style login ({ host? }); returns the code to show, the
// approval link for the browser and the secret poll token. Unauthenticated by design: nothing is granted
// until a signed-in person approves the code.
import { z } from "zod";
import { errorResponse, parseBody } from "@/lib/http";
import { startCliLogin } from "@/lib/tunnel/cli-login";

export const dynamic = "force-dynamic";

const bodySchema = z.object({ host: z.string().max(200).optional() });

export async function POST(req: Request) {
  try {
    const { host } = await parseBody(req, bodySchema);
    const login = await startCliLogin(host);
    return Response.json({ ...login, expiresAt: login.expiresAt.toISOString() }, { status: 201 });
  } catch (e) {
    return errorResponse(e, "/api/cli/login");
  }
}
