// Audit trail: who did what to which target. Never pass secret values in `data`.
import type { Prisma } from "@prisma/client";
import { getDb } from "@/lib/db";

export async function audit(
  actorId: string | null,
  action: string,
  target?: { type: string; id: string },
  data?: Prisma.InputJsonObject,
): Promise<void> {
  const db = await getDb();
  await db.auditEvent.create({
    data: { actorId, action, targetType: target?.type, targetId: target?.id, data },
  });
}
