// POST /api/v1/integrations/:id/doctor — run the connection step by step; returns each step's outcome
import { diagnoseIntegration } from "@/lib/data/integrations";
import { withApiToken } from "@/lib/http";

export const dynamic = "force-dynamic";

export const POST = withApiToken(async ({ user, params }) =>
  Response.json({ steps: await diagnoseIntegration(user, params.id) }),
);
