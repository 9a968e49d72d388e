// GET /api/health — for load balancers: database reachable and migrations current
import { unappliedMigrations } from "@/lib/data/health";

export const dynamic = "force-dynamic";

export async function GET() {
  try {
    const pending = await unappliedMigrations();
    if (pending.length)
      return Response.json({ status: "error", reason: "migrations pending", pending }, { status: 503 });
    return Response.json({ status: "ok" });
  } catch {
    return Response.json({ status: "error", reason: "database unreachable" }, { status: 503 });
  }
}
