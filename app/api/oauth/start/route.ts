// POST /api/oauth/start — send the signed-in person to authorize one of their integrations (form post)
import "server-only";
import { currentUser } from "@/lib/auth/session";
import { assertSameOrigin, errorResponse } from "@/lib/http";
import { handleStartRequest } from "@/lib/oauth/web";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request) {
  try {
    assertSameOrigin(req);
  } catch (e) {
    return errorResponse(e, "/api/oauth/start");
  }
  return handleStartRequest(req, await currentUser());
}
