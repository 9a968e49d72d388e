// GET /api/v1/integrations — the token owner's integrations
// POST /api/v1/integrations — add one ({ name, url, apiKey? }); connects at once and reports the outcome
import { createIntegration, listIntegrations } from "@/lib/data/integrations";
import { parseBody, withApiToken } from "@/lib/http";
import { integrationCreateSchema } from "@/lib/schemas/integrations";

export const dynamic = "force-dynamic";

export const GET = withApiToken(async ({ user }) =>
  Response.json({ integrations: await listIntegrations(user) }),
);

export const POST = withApiToken(async ({ user, req }) => {
  const result = await createIntegration(user, await parseBody(req, integrationCreateSchema));
  return Response.json(result, { status: 201 });
});
