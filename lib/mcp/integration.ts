// Owner-scoped loading of an integration plus what the engine needs to connect to it.
import type { AuthProvider } from "@modelcontextprotocol/client";
import type { Integration } from "@prisma/client";
import { decryptField } from "@/lib/crypto";
import { getDb } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";
import type { TransportKind } from "@/lib/mcp/connect";

/** The row plus what connecting needs: the decrypted API key, and for OAuth integrations the token provider. */
export type EngineIntegration = Integration & { apiKey: string | null; authProvider?: AuthProvider };

/** Loads by (id, userId): another user's id is "not found", before any outbound request. */
export async function loadIntegration(userId: string, integrationId: string): Promise<EngineIntegration> {
  if (!userId || !integrationId) throw notFound("Integration not found");
  const db = await getDb();
  const row = await db.integration.findFirst({ where: { id: integrationId, userId } });
  if (!row) throw notFound("Integration not found");
  return { ...row, apiKey: decryptApiKey(row), authProvider: await oauthProvider(row) };
}

async function oauthProvider(row: Integration): Promise<AuthProvider | undefined> {
  if (row.authKind !== "oauth") return undefined;
  // Loaded lazily: lib/oauth itself uses the engine (pool, sync).
  const { oauthProviderFor } = await import("@/lib/oauth/grant");
  return (await oauthProviderFor(row.userId, row.id)) ?? undefined;
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
