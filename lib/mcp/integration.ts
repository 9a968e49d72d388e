// Owner-scoped loading of an integration plus what the engine needs to connect to it.
import type { AuthProvider } from "@modelcontextprotocol/client";
import type { Integration } from "@prisma/client";
import { aad, decryptField } from "@/lib/crypto";
import { readIntegration } from "@/lib/data/catalog";
import { covers, onIntegrationsChanged } from "@/lib/data/changes";
import { AppError, notFound } from "@/lib/errors";
import { processState, TtlCache } from "@/lib/state";
import type { TransportKind } from "@/lib/mcp/connect";

/** The row plus what connecting needs: the decrypted API key, and for OAuth integrations the token provider. */
export type EngineIntegration = Integration & { apiKey: string | null; authProvider?: AuthProvider };

/** Loads by (id, userId): another user's id is "not found", before any outbound request. */
export async function loadIntegration(userId: string, integrationId: string): Promise<EngineIntegration> {
  const row = userId && integrationId ? await readIntegration({ userId, integrationId }) : null;
  if (!row) throw notFound("Integration not found");
  return engineIntegration(row);
}

/** What the engine needs beside a row its caller loaded, owner-scoped. */
export async function engineIntegration(row: Integration): Promise<EngineIntegration> {
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
    return decryptField(row.apiKeyEnc, aad("Integration", "apiKeyEnc", row.id));
  } catch {
    throw new AppError("key_unreadable", "The stored API key can't be decrypted; enter the key again.", 500);
  }
}

export function knownTransport(row: Integration): TransportKind | null {
  return row.transport === "sse" || row.transport === "streamable-http" ? row.transport : null;
}

// ---------------------------------------------------------------------------------------------------------
// Call plans: the (owner-checked) integration and the tool's schema, kept so calls skip the database. Every
// committed change to an integration or its tools drops them (lib/data/changes.ts, on every instance with
// Redis), as does closing its session; their lifetime bounds what a missed change can leave.

export type Plan = {
  integ: EngineIntegration;
  tool: { inputSchema: unknown; enabled: boolean; definitionHash?: string } | null;
};
/** Promises, cached when the read starts: a change committed meanwhile drops the read, not a later one. */
export const plans = processState("callPlans", () => {
  const c = new TtlCache<string, Promise<Plan>>({ ttlMs: 2_000, max: 5_000 });
  onIntegrationsChanged((change) =>
    c.deleteWhere((k) => {
      const [userId, integrationId] = k.split("\u0000");
      return covers(change, userId, integrationId);
    }),
  );
  return c;
});
export const planKey = (userId: string, integrationId: string, tool: string) =>
  `${userId}\u0000${integrationId}\u0000${tool}`;

/** Forgets cached call plans of one integration (after its row or its tools changed). */
export function forgetCallPlans(userId: string, integrationId: string): void {
  const prefix = `${userId}\u0000${integrationId}\u0000`;
  plans.deleteWhere((k) => k.startsWith(prefix));
}
