// Owner-scoped loading of an integration plus what the engine needs to connect to it.
import type { Integration } from "@prisma/client";
import { decryptField } from "@/lib/crypto";
import { getDb } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";
import type { TransportKind } from "@/lib/mcp/connect";

export type EngineIntegration = Integration & { apiKey: string | null };

/** Loads by (id, userId): another user's id is "not found", before any outbound request. */
export async function loadIntegration(userId: string, integrationId: string): Promise<EngineIntegration> {
  if (!userId || !integrationId) throw notFound("Integration not found");
  const db = await getDb();
  const row = await db.integration.findFirst({ where: { id: integrationId, userId } });
  if (!row) throw notFound("Integration not found");
  return { ...row, apiKey: decryptApiKey(row) };
}

function decryptApiKey(row: Integration): string | null {
  if (!row.apiKeyEnc) return null;
  try {
    return decryptField(row.apiKeyEnc, { table: "Integration", column: "apiKeyEnc", id: row.id });
  } catch {
    throw new AppError("key_unreadable", "The stored API key can't be decrypted; enter the key again.", 500);
  }
}

export function knownTransport(row: Integration): TransportKind | null {
  return row.transport === "sse" || row.transport === "streamable-http" ? row.transport : null;
}
