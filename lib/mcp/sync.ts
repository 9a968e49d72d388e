// Re-sync: connect, discover, and store metadata + the full tool catalog in one transaction
// (SECURITY §22). Concurrent syncs of one integration are serialized in-process and, across
// processes, by a row lock, so each commit is one complete snapshot.
import { randomUUID } from "node:crypto";
import type { AuthProvider, OAuthClientProvider } from "@modelcontextprotocol/client";
import { Prisma } from "@prisma/client";
import { afterSync } from "@/lib/agent/events";
import { getDb } from "@/lib/db";
import { AppError, isAppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";
import { keyedSerializer } from "@/lib/serialize";
import { connectMcp, type McpConnection } from "@/lib/mcp/connect";
import { discover, type Discovery, type ToolDefinition } from "@/lib/mcp/discover";
import {
  engineIntegration,
  forgetCallPlans,
  knownTransport,
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
    const { integ, stored } = await loadWithCatalog(userId, integrationId);
    let found: Discovery & { closed: Promise<void> };
    try {
      found = await connectAndDiscover(integ, opts);
    } catch (err) {
      await recordFailure(integ, err);
      throw err;
    }
    // The session's close (a DELETE for sessionful servers) runs alongside the write.
    const [diff] = await Promise.all([storeSnapshot(integ, found, stored), found.closed]);
    forgetCallPlans(userId, integ.id);
    return afterSync<SyncDiff>(userId)(diff);
  });
}

type StoredTool = { id: string; name: string; definitionHash: string };
/** The catalog as stored at syncGeneration `generation`. */
type StoredCatalog = { generation: number; tools: StoredTool[] };

/**
 * The integration (owner-checked) and its stored catalog in one query. The catalog is only used if no
 * other sync committed since (same syncGeneration): storeSnapshot checks.
 */
async function loadWithCatalog(
  userId: string,
  integrationId: string,
): Promise<{ integ: EngineIntegration; stored: StoredCatalog }> {
  if (!userId || !integrationId) throw notFound("Integration not found");
  const db = await getDb();
  const row = await db.integration.findFirst({
    where: { id: integrationId, userId },
    include: { tools: { select: { id: true, name: true, definitionHash: true } } },
  });
  if (!row) throw notFound("Integration not found");
  const { tools, ...integration } = row;
  return {
    integ: await engineIntegration(integration),
    stored: { generation: integration.syncGeneration, tools },
  };
}

/** Connects and discovers; the connection is closing (not yet closed) when this returns. */
async function connectAndDiscover(
  integ: EngineIntegration,
  opts: SyncOptions,
): Promise<Discovery & { closed: Promise<void> }> {
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
  let found: Discovery;
  try {
    found = await discover(
      conn,
      { url: new URL(integ.url), hasApiKey: !!integ.apiKey, oauthGranted: !!integ.authProvider },
      { timeoutMs: opts.timeoutMs },
    );
  } catch (err) {
    await conn.close();
    throw err;
  }
  return { ...found, closed: conn.close() };
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

async function storeSnapshot(
  integ: EngineIntegration,
  found: Discovery,
  stored: StoredCatalog,
): Promise<SyncDiff> {
  const db = await getDb();
  const { server, tools } = found;
  const metadata = {
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
  } satisfies Prisma.IntegrationUpdateManyMutationInput;

  // Nothing to write but the metadata (the usual re-sync): one conditional update, no transaction. It
  // applies only while the catalog is still the one compared against (same generation), so it commits the
  // same complete snapshot the transaction below would.
  const unchanged = diffTools(stored.tools, tools);
  if (!unchanged.added.length && !unchanged.changed.length && !unchanged.removed.length) {
    const { count } = await db.integration.updateMany({
      where: { id: integ.id, userId: integ.userId, syncGeneration: stored.generation },
      data: metadata,
    });
    if (count === 1) return summary(unchanged, tools.length);
  }

  return db.$transaction(
    async (tx) => {
      // Row lock: another process syncing the same integration waits here instead of interleaving.
      const locked = await tx.$queryRaw<{ syncGeneration: number }[]>`
        SELECT "syncGeneration" FROM "Integration"
        WHERE id = ${integ.id} AND "userId" = ${integ.userId} FOR UPDATE`;
      if (!locked.length) throw new AppError("not_found", "Integration not found", 404);
      // Every write of a tool's name or definition bumps syncGeneration, so an equal generation means the
      // catalog read before the lock is still the stored one.
      const existing =
        stored.generation === Number(locked[0].syncGeneration)
          ? stored.tools
          : await tx.tool.findMany({
              where: { integrationId: integ.id },
              select: { id: true, name: true, definitionHash: true },
            });
      const diff = await writeTools(tx, integ.id, diffTools(existing, tools));
      await tx.integration.update({ where: { id: integ.id }, data: metadata });
      return summary(diff, tools.length);
    },
    { maxWait: 30_000, timeout: 60_000 },
  );
}

type ToolDiff = {
  added: ToolDefinition[];
  changed: { id: string; tool: ToolDefinition }[];
  removed: StoredTool[];
};

function diffTools(existing: StoredTool[], tools: ToolDefinition[]): ToolDiff {
  const before = new Map(existing.map((t) => [t.name, t]));
  const next = new Set(tools.map((t) => t.name));
  const diff: ToolDiff = { added: [], changed: [], removed: existing.filter((t) => !next.has(t.name)) };
  for (const t of tools) {
    const old = before.get(t.name);
    if (!old) diff.added.push(t);
    else if (old.definitionHash !== t.definitionHash) diff.changed.push({ id: old.id, tool: t });
  }
  return diff;
}

function summary(diff: ToolDiff, toolCount: number): SyncDiff {
  return {
    added: diff.added.map((t) => t.name).sort(),
    removed: diff.removed.map((t) => t.name).sort(),
    changed: diff.changed.map((c) => c.tool.name).sort(),
    unchanged: toolCount - diff.added.length - diff.changed.length,
    toolCount,
  };
}

type Tx = Prisma.TransactionClient;

async function writeTools(tx: Tx, integrationId: string, diff: ToolDiff): Promise<ToolDiff> {
  const { added, changed, removed } = diff;
  if (removed.length) await tx.tool.deleteMany({ where: { id: { in: removed.map((t) => t.id) } } });
  if (added.length) await insertTools(tx, integrationId, added);
  const now = new Date();
  for (const { id, tool } of changed) {
    await tx.tool.update({ where: { id }, data: { ...columns(tool), changedAt: now } });
  }
  return diff;
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
