// Owner-scoped loading of an integration plus what the engine needs to connect to it.
import type { AuthProvider } from "@modelcontextprotocol/client";
import type { Integration } from "@prisma/client";
import { decryptField } from "@/lib/crypto";
import { getDriver } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";
import type { TransportKind } from "@/lib/mcp/connect";

/** The row plus what connecting needs: the decrypted API key, and for OAuth integrations the token provider. */
export type EngineIntegration = Integration & { apiKey: string | null; authProvider?: AuthProvider };

/** Loads by (id, userId): another user's id is "not found", before any outbound request. */
export async function loadIntegration(userId: string, integrationId: string): Promise<EngineIntegration> {
  if (!userId || !integrationId) throw notFound("Integration not found");
  const [row] = await integrationRows([integrationId], [userId]);
  if (!row) throw notFound("Integration not found");
  return engineIntegration(row);
}

/**
 * Every column of Integration, 1 marking DateTime columns (the compiler checks both against Prisma's type).
 * Those are read as instants: Prisma stores a DateTime as its UTC wall time in `timestamp(3)`.
 */
const COLUMNS = {
  id: 0,
  userId: 0,
  name: 0,
  url: 0,
  transport: 0,
  authKind: 0,
  apiKeyEnc: 0,
  templateId: 0,
  tunnelId: 0,
  status: 0,
  lastError: 0,
  serverName: 0,
  serverTitle: 0,
  serverVersion: 0,
  protocolVersion: 0,
  protocolEra: 0,
  instructions: 0,
  capabilities: 0,
  oauthDiscovery: 0,
  stepUpScope: 0,
  storePayloads: 0,
  lastSyncedAt: 1,
  syncGeneration: 0,
  createdAt: 1,
  updatedAt: 1,
} satisfies { [K in keyof Integration]-?: Integration[K] extends Date | null ? 1 : 0 };
const SELECT_COLUMNS = Object.entries(COLUMNS)
  .map(([c, time]) => (time ? `("${c}" AT TIME ZONE 'UTC') AS "${c}"` : `"${c}"`))
  .join(", ");

/**
 * The integrations among `ids` owned by one of `userIds` (callers match each row to its owner), read through
 * the driver: a plain select costs a fraction of a Prisma query on the embedded database, and syncs and
 * calls read a row each.
 */
export async function integrationRows(ids: string[], userIds: string[]): Promise<Integration[]> {
  const driver = await getDriver();
  const { rows } = await driver.query<Integration>(
    `SELECT ${SELECT_COLUMNS} FROM "Integration" WHERE "id" = ANY($1) AND "userId" = ANY($2)`,
    [ids, userIds],
  );
  return rows;
}

/** What the engine needs from a row it has loaded itself (owner-checked by the caller's query). */
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
    return decryptField(row.apiKeyEnc, { table: "Integration", column: "apiKeyEnc", id: row.id });
  } catch {
    throw new AppError("key_unreadable", "The stored API key can't be decrypted; enter the key again.", 500);
  }
}

export function knownTransport(row: Integration): TransportKind | null {
  return row.transport === "sse" || row.transport === "streamable-http" ? row.transport : null;
}

// ---------------------------------------------------------------------------------------------------------
// Call plans: the (owner-checked) integration and the tool's schema, kept for a moment so back-to-back calls
// skip the database. Anything that changes an integration or its tools drops them (dropSession, a sync,
// enabling or disabling a tool); the short TTL bounds what another instance's change can leave behind.

export const PLAN_TTL_MS = 2_000;
export type Plan = {
  integ: EngineIntegration;
  tool: { inputSchema: unknown; enabled: boolean } | null;
  at: number;
};
export const plans = ((globalThis as { __pokeCallPlans?: Map<string, Plan> }).__pokeCallPlans ??= new Map());
export const planKey = (userId: string, integrationId: string, tool: string) =>
  `${userId}\u0000${integrationId}\u0000${tool}`;

/** Forgets cached call plans of one integration (after its row or its tools changed). */
export function forgetCallPlans(userId: string, integrationId: string): void {
  const prefix = `${userId}\u0000${integrationId}\u0000`;
  for (const k of plans.keys()) if (k.startsWith(prefix)) plans.delete(k);
}
