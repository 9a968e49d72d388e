// Re-sync: connect, discover, and store metadata + the full tool catalog in one transaction
// (SECURITY §22). Concurrent syncs of one integration are serialized in-process and, across
// processes, by a row lock, so each commit is one complete snapshot.
import { randomUUID } from "node:crypto";
import type { AuthProvider, OAuthClientProvider } from "@modelcontextprotocol/client";
import { Prisma } from "@prisma/client";
import { afterSync } from "@/lib/agent/events";
import { getDb } from "@/lib/db";
import { AppError, isAppError } from "@/lib/errors";
import { log } from "@/lib/log";
import { keyedSerializer } from "@/lib/serialize";
import { connectMcp, type McpConnection } from "@/lib/mcp/connect";
import { discover, type Discovery, type ToolDefinition } from "@/lib/mcp/discover";
import {
  forgetCallPlans,
  knownTransport,
  loadIntegration,
  type EngineIntegration,
} from "@/lib/mcp/integration";

export type SyncDiff = {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: number;
  toolCount: number;
};

export type SyncOptions = {
  authProvider?: OAuthClientProvider | AuthProvider;
  timeoutMs?: number;
  headersTimeoutMs?: number;
};

/** Runs `fn` after any sync of the same integration in this process has finished. */
const serialized = keyedSerializer("__pokeSyncChains");

/** Connects to the integration's server, discovers, stores. Throws AppError; records failures on the row. */
export function syncIntegration(
  userId: string,
  integrationId: string,
  opts: SyncOptions = {},
): Promise<SyncDiff> {
  return serialized(integrationId, async () => {
    const integ = await loadIntegration(userId, integrationId);
    let found: Discovery;
    try {
      found = await connectAndDiscover(integ, opts);
    } catch (err) {
      await recordFailure(integ, err);
      throw err;
    }
    const diff = await storeSnapshot(integ, found);
    forgetCallPlans(userId, integ.id);
    return afterSync<SyncDiff>(userId)(diff);
  });
}

async function connectAndDiscover(integ: EngineIntegration, opts: SyncOptions): Promise<Discovery> {
  const base = {
    url: integ.url,
    userId: integ.userId,
    apiKey: integ.apiKey,
    authProvider: opts.authProvider ?? integ.authProvider,
    timeoutMs: opts.timeoutMs,
    headersTimeoutMs: opts.headersTimeoutMs,
  };
  const known = knownTransport(integ);
  let conn: McpConnection;
  try {
    conn = await connectMcp({ ...base, transport: known });
  } catch (err) {
    // The server may have moved transports since last time: probe both once before giving up.
    if (!known || !isAppError(err) || err.code !== "not_mcp") throw err;
    conn = await connectMcp(base);
  }
  try {
    return await discover(
      conn,
      { url: new URL(integ.url), hasApiKey: !!integ.apiKey, oauthGranted: !!integ.authProvider },
      { timeoutMs: opts.timeoutMs },
    );
  } finally {
    await conn.close();
  }
}

async function recordFailure(integ: EngineIntegration, err: unknown): Promise<void> {
  const app = isAppError(err) ? err : undefined;
  if (!app) log.error("mcp sync failed", { integrationId: integ.id, err: String(err) });
  const status = app?.code === "needs_auth" || app?.code === "needs_reauth" ? app.code : "error";
  const db = await getDb();
  await db.integration
    .updateMany({
      where: { id: integ.id, userId: integ.userId },
      data: { status, lastError: app?.message ?? "Syncing failed unexpectedly. Try again." },
    })
    .catch((e) => log.error("recording sync failure failed", { integrationId: integ.id, err: String(e) }));
}

// Nullable JSON columns need DbNull to be cleared (a plain null/undefined would keep the old value).
const json = (v: unknown) => (v === null || v === undefined ? Prisma.DbNull : (v as Prisma.InputJsonValue));

async function storeSnapshot(integ: EngineIntegration, found: Discovery): Promise<SyncDiff> {
  const db = await getDb();
  const { server, tools } = found;
  return db.$transaction(
    async (tx) => {
      // Row lock: another process syncing the same integration waits here instead of interleaving.
      const locked = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM "Integration" WHERE id = ${integ.id} AND "userId" = ${integ.userId} FOR UPDATE`;
      if (!locked.length) throw new AppError("not_found", "Integration not found", 404);
      const existing = await tx.tool.findMany({
        where: { integrationId: integ.id },
        select: { id: true, name: true, definitionHash: true },
      });
      const diff = await writeTools(tx, integ.id, existing, tools);
      await tx.integration.update({
        where: { id: integ.id },
        data: {
          status: "connected",
          lastError: null,
          transport: server.transport,
          serverName: server.name,
          serverTitle: server.title,
          serverVersion: server.version,
          protocolVersion: server.protocolVersion,
          protocolEra: server.era,
          instructions: server.instructions,
          capabilities: json(server.capabilities),
          lastSyncedAt: new Date(),
          syncGeneration: { increment: 1 },
        },
      });
      return diff;
    },
    { maxWait: 30_000, timeout: 60_000 },
  );
}

type Tx = Prisma.TransactionClient;

async function writeTools(
  tx: Tx,
  integrationId: string,
  existing: { id: string; name: string; definitionHash: string }[],
  tools: ToolDefinition[],
): Promise<SyncDiff> {
  const before = new Map(existing.map((t) => [t.name, t]));
  const next = new Map(tools.map((t) => [t.name, t]));
  const added = tools.filter((t) => !before.has(t.name));
  const changed = tools.filter(
    (t) => before.has(t.name) && before.get(t.name)!.definitionHash !== t.definitionHash,
  );
  const removed = existing.filter((t) => !next.has(t.name));
  if (removed.length) await tx.tool.deleteMany({ where: { id: { in: removed.map((t) => t.id) } } });
  if (added.length) await insertTools(tx, integrationId, added);
  const now = new Date();
  for (const t of changed) {
    await tx.tool.update({ where: { id: before.get(t.name)!.id }, data: { ...columns(t), changedAt: now } });
  }
  return {
    added: added.map((t) => t.name).sort(),
    removed: removed.map((t) => t.name).sort(),
    changed: changed.map((t) => t.name).sort(),
    unchanged: tools.length - added.length - changed.length,
    toolCount: tools.length,
  };
}

/**
 * New tools in one statement: the rows travel as a single JSON parameter. A server with a thousand tools is
 * stored several times faster than with row-by-row parameters (bench/discovery.ts).
 */
async function insertTools(tx: Tx, integrationId: string, tools: ToolDefinition[]): Promise<void> {
  const rows = tools.map((t) => ({
    id: randomUUID(),
    name: t.name,
    title: t.title ?? undefined,
    description: t.description ?? undefined,
    inputSchema: t.inputSchema,
    // absent keys become SQL NULL (Prisma's DbNull), not a JSON null
    outputSchema: t.outputSchema ?? undefined,
    annotations: t.annotations ?? undefined,
    definitionHash: t.definitionHash,
  }));
  await tx.$executeRaw`
    INSERT INTO "Tool" ("id", "integrationId", "name", "title", "description", "inputSchema", "outputSchema",
                        "annotations", "definitionHash", "enabled", "createdAt", "updatedAt")
    SELECT r."id", ${integrationId}, r."name", r."title", r."description", r."inputSchema", r."outputSchema",
           r."annotations", r."definitionHash", true, now(), now()
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r("id" text, "name" text, "title" text,
         "description" text, "inputSchema" jsonb, "outputSchema" jsonb, "annotations" jsonb, "definitionHash" text)`;
}

function columns(t: ToolDefinition) {
  return {
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: t.inputSchema as Prisma.InputJsonValue,
    outputSchema: json(t.outputSchema),
    annotations: json(t.annotations),
    definitionHash: t.definitionHash,
  };
}
