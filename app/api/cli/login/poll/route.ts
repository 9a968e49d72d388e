// POST /api/cli/login/poll — `poke login` polls with its poll token ({ pollToken }): 202 while pending,
// 200 with the API token exactly once after approval, 410 when expired or already delivered.
import { z } from "zod";
import { errorResponse, jsonError, parseBody } from "@/lib/http";
import { pollCliLogin } from "@/lib/tunnel/cli-login";

export const dynamic = "force-dynamic";

const bodySchema = z.object({ pollToken: z.string().min(1).max(200) });

export async function POST(req: Request) {
  try {
    const { pollToken } = await parseBody(req, bodySchema);
    const r = await pollCliLogin(pollToken);
    switch (r.state) {
      case "pending":
        return Response.json({ status: "pending", intervalMs: r.intervalMs }, { status: 202 });
      case "approved":
        return Response.json({ status: "approved", token: r.token, email: r.user.email });
      case "expired":
        return jsonError(
          "expired",
          "The login code expired before it was approved. Run `poke login` again.",
          410,
        );
      case "used":
        return jsonError("used", "This login was already completed. Run `poke login` again.", 410);
      default:
        return jsonError("not_found", "Unknown login. Run `poke login` again.", 404);
    }
  } catch (e) {
    return errorResponse(e, "/api/cli/login/poll");
  }
}
