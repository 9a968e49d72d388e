// GET /api/v1/activity — the token owner's tool calls, newest first
//   ?integration=<id>&status=ok|tool_error|error|timeout|rejected&source=playground|api|agent&limit=1..200&cursor=
// GET /api/v1/activity?health=1 — per-integration health over the last 24 h instead
import { listActivity, listIntegrationHealth } from "@/lib/agent/activity";
import { withApiToken } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = withApiToken(async ({ user, req }) => {
  const sp = new URL(req.url).searchParams;
  const get = (k: string) => sp.get(k) || undefined;
  if (sp.get("health"))
    return Response.json({ integrations: await listIntegrationHealth(user, get("integration")) });
  return Response.json(
    await listActivity(user, {
      integrationId: get("integration"),
      status: get("status"),
      source: get("source"),
      cursor: get("cursor"),
      limit: sp.has("limit") ? Number(sp.get("limit")) : undefined,
    }),
  );
});
