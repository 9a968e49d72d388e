// Readiness, for load balancers: the database answers and every migration in prisma/migrations is applied.
import { getDb } from "@/lib/db";
import { pendingMigrations } from "@/lib/migrate";

/** Names of migrations not applied yet; throws when the database can't be reached. */
export async function unappliedMigrations(): Promise<string[]> {
  const db = await getDb();
  return pendingMigrations((sql, params) => db.$queryRawUnsafe(sql, ...(params ?? [])));
}
