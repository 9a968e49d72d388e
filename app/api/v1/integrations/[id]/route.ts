// GET /api/v1/integrations/:id — one integration (metadata, status)
// PATCH /api/v1/integrations/:id — change name, URL or API key ("" removes it); reconnects when needed
// DELETE /api/v1/integrations/:id — remove it and its tools
import { deleteIntegration, getIntegration, updateIntegration } from "@/lib/data/integrations";
import { parseBody, withApiToken } from "@/lib/http";
import { integrationUpdateSchema } from "@/lib/schemas/integrations";

export const dynamic = "force-dynamic";

export const GET = withApiToken(async ({ user, params }) =>
  Response.json({ integration: await getIntegration(user, params.id) }),
);

export const PATCH = withApiToken(async ({ user, params, req }) =>
  Response.json(await updateIntegration(user, params.id, await parseBody(req, integrationUpdateSchema))),
);

export const DELETE = withApiToken(async ({ user, params }) => {
  await deleteIntegration(user, params.id);
  return new Response(null, { status: 204 });
});
