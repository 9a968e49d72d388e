// GET /api/v1/me — the API token's owner
import { withApiToken } from "@/lib/http";

export const GET = withApiToken(async ({ user }) =>
  Response.json({ id: user.id, email: user.email, name: user.name, role: user.role }),
);
