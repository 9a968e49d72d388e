// POST /api/v1/integrations/:id/sync — re-list the server's tools; returns what changed
import { resyncIntegration } from "@/lib/data/integrations";
import { withApiToken } from "@/lib/http";

export const dynamic = "force-dynamic";

export const POST = withApiToken(async ({ user, params }) =>
  Response.json(await resyncIntegration(user, params.id)),
);
