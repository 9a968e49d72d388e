// POST /api/v1/integrations/:id/doctor — run the connection step by step; returns each step's outcome
import { diagnoseIntegration } from "@/lib/data/integrations";
import { withApiToken } from "@/lib/http";
import { serveDirectly } from "@/app/api/v1/direct-routes";

export const dynamic = "force-dynamic";

export const POST = withApiToken(async ({ user, params }) =>
  Response.json({ steps: await diagnoseIntegration(user, params.id) }),
);

serveDirectly("/api/v1/integrations/[id]/doctor", { POST });
