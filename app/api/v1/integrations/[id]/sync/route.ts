// POST /api/v1/integrations/:id/sync — re-list the server's tools; returns what changed
import { resyncIntegration } from "@/lib/data/integrations";
import { withApiToken } from "@/lib/http";
import { serveDirectly } from "@/app/api/v1/direct-routes";

export const dynamic = "force-dynamic";

export const POST = withApiToken(async ({ user, params }) =>
  Response.json(await resyncIntegration(user, params.id)),
);

serveDirectly("/api/v1/integrations/[id]/sync", { POST });
