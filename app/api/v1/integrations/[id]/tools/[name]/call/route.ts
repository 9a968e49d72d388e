// POST /api/v1/integrations/:id/tools/:name/call — call a tool ({ arguments, timeoutMs? })
import { callIntegrationTool } from "@/lib/data/integrations";
import { parseBody, withApiToken } from "@/lib/http";
import { toolCallSchema } from "@/lib/schemas/integrations";

export const dynamic = "force-dynamic";

export const POST = withApiToken(async ({ user, params, req }) => {
  const { result, latencyMs } = await callIntegrationTool(
    user,
    params.id,
    params.name,
    await parseBody(req, toolCallSchema),
    "api",
    { signal: req.signal }, // a client that goes away cancels the call and frees its socket
  );
  return Response.json({ result, latencyMs });
});
