// GET /api/oauth/callback — the authorization server sends the browser back here with code, state and iss
import "server-only";
import { currentUser } from "@/lib/auth/session";
import { handleCallbackRequest } from "@/lib/oauth/web";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function GET(req: Request) {
  return handleCallbackRequest(req, await currentUser());
}
