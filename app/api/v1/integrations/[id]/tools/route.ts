// GET /api/v1/integrations/:id/tools — the stored tool catalog (with schemas and enabled flags)
import { listTools } from "@/lib/data/integrations";
import { withApiToken } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = withApiToken(async ({ user, params }) =>
  Response.json({ tools: await listTools(user, params.id) }),
);
