// GET /api/health — for load balancers: database reachable and migrations current
import { getDb } from "@/lib/db";
import { pendingMigrations } from "@/lib/migrate";

export const dynamic = "force-dynamic";

export async function GET() {
  try {
    const db = await getDb();
    const pending = await pendingMigrations((sql, params) => db.$queryRawUnsafe(sql, ...(params ?? [])));
    if (pending.length)
      return Response.json({ status: "error", reason: "migrations pending", pending }, { status: 503 });
    return Response.json({ status: "ok" });
  } catch {
    return Response.json({ status: "error", reason: "database unreachable" }, { status: 503 });
  }
}
