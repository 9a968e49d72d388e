// Re-sync: connect, discover, and store metadata + the full tool catalog in one transaction
// (SECURITY §22). Concurrent syncs of one integration are serialized in-process and, across
// processes, by a row lock, so each commit is one complete snapshot.
import { randomUUID } from "node:crypto";
import type { AuthProvider, OAuthClientProvider } from "@modelcontextprotocol/client";
import { Prisma, type PrismaClient } from "@prisma/client";
import { afterSync } from "@/lib/agent/events";
import { getDb } from "@/lib/db";
import { AppError, isAppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";
import { batched, keyedSerializer } from "@/lib/serialize";
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
 * The integration (owner-checked) and its stored catalog. The catalog is only used if no other sync
 * committed since (same syncGeneration): storeSnapshot checks.
 */
async function loadWithCatalog(
  userId: string,
  integrationId: string,
): Promise<{ integ: EngineIntegration; stored: StoredCatalog }> {
  if (!userId || !integrationId) throw notFound("Integration not found");
  const row = await loadRows({ userId, integrationId });
  if (!row) throw notFound("Integration not found");
  const { tools, ...integration } = row;
  return {
    integ: await engineIntegration(integration),
    stored: { generation: integration.syncGeneration, tools },
  };
}

/**
 * Concurrent syncs (a re-sync of everything, list_changed from many servers) read their rows in one query:
 * on the embedded database each statement has a fixed cost well above that of a row.
 */
const loadRows = batched(async (items: { userId: string; integrationId: string }[]) => {
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: {
      id: { in: [...new Set(items.map((i) => i.integrationId))] },
      userId: { in: [...new Set(items.map((i) => i.userId))] },
    },
    include: { tools: { select: { id: true, name: true, definitionHash: true } } },
  });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return items.map(({ userId, integrationId }) => {
    const row = byId.get(integrationId);
    return row && row.userId === userId ? row : null;
  });
});

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

async function storeSnapshot(
  integ: EngineIntegration,
  found: Discovery,
  stored: StoredCatalog,
): Promise<SyncDiff> {
  const { server, tools } = found;
  const metadata = (generation: number): MetadataRow => ({
    id: integ.id,
    userId: integ.userId,
    generation,
    transport: server.transport,
    serverName: server.name,
    serverTitle: server.title,
    serverVersion: server.version,
    protocolVersion: server.protocolVersion,
    protocolEra: server.era,
    instructions: server.instructions,
    capabilities: server.capabilities,
    syncedAt: new Date().toISOString(),
  });

  // Nothing to write but the metadata (the usual re-sync): one conditional update, no transaction, shared
  // with concurrent syncs. It applies only while the catalog is still the one compared against (same
  // generation), so it commits the same complete snapshot the transaction below would.
  const unchanged = diffTools(stored.tools, tools);
  if (!unchanged.added.length && !unchanged.changed.length && !unchanged.removed.length) {
    if (await updateUnchanged(metadata(stored.generation))) return summary(unchanged, tools.length);
  }

  const db = await getDb();
  return db.$transaction(
    async (tx) => {
      // Row lock: another process syncing the same integration waits here instead of interleaving.
      const locked = await tx.$queryRaw<{ syncGeneration: number }[]>`
        SELECT "syncGeneration" FROM "Integration"
        WHERE id = ${integ.id} AND "userId" = ${integ.userId} FOR UPDATE`;
      if (!locked.length) throw new AppError("not_found", "Integration not found", 404);
      // Every write of a tool's name or definition bumps syncGeneration, so an equal generation means the
      // catalog read before the lock is still the stored one.
      const generation = Number(locked[0].syncGeneration);
      const existing =
        stored.generation === generation
          ? stored.tools
          : await tx.tool.findMany({
              where: { integrationId: integ.id },
              select: { id: true, name: true, definitionHash: true },
            });
      const diff = await writeTools(tx, integ.id, diffTools(existing, tools));
      await updateMetadata(tx, [metadata(generation)]);
      return summary(diff, tools.length);
    },
    { maxWait: 30_000, timeout: 60_000 },
  );
}

/** What a successful sync writes on the integration row; it applies only at syncGeneration `generation`. */
type MetadataRow = {
  id: string;
  userId: string;
  generation: number;
  transport: string;
  serverName: string | null;
  serverTitle: string | null;
  serverVersion: string | null;
  protocolVersion: string | null;
  protocolEra: string | null;
  instructions: string | null;
  capabilities: object | null;
  /** ISO time; stored as the UTC wall time, as Prisma stores DateTime */
  syncedAt: string;
};

const updateUnchanged = batched(async (rows: MetadataRow[]) => {
  const applied = await updateMetadata(await getDb(), rows);
  return rows.map((r) => applied.has(r.id));
});

/**
 * Marks integrations connected with their server's metadata and bumps syncGeneration, in one statement;
 * returns the ids it applied to (a row whose generation moved on is left alone).
 */
async function updateMetadata(q: Tx | PrismaClient, rows: MetadataRow[]): Promise<Set<string>> {
  // Null fields are left out: a key absent from the JSON is SQL NULL, where a JSON null would be a jsonb null.
  const json = JSON.stringify(rows, (_k, v: unknown) => (v === null ? undefined : v));
  const updated = await q.$queryRaw<{ id: string }[]>`
    UPDATE "Integration" AS i
    SET "status" = 'connected', "lastError" = NULL, "transport" = v."transport",
        "serverName" = v."serverName", "serverTitle" = v."serverTitle", "serverVersion" = v."serverVersion",
        "protocolVersion" = v."protocolVersion", "protocolEra" = v."protocolEra",
        "instructions" = v."instructions", "capabilities" = v."capabilities",
        "lastSyncedAt" = v."syncedAt", "updatedAt" = v."syncedAt", "syncGeneration" = i."syncGeneration" + 1
    FROM jsonb_to_recordset(${json}::jsonb) AS v("id" text, "userId" text, "generation" int, "transport" text,
         "serverName" text, "serverTitle" text, "serverVersion" text, "protocolVersion" text,
         "protocolEra" text, "instructions" text, "capabilities" jsonb, "syncedAt" timestamp(3))
    WHERE i."id" = v."id" AND i."userId" = v."userId" AND i."syncGeneration" = v."generation"
    RETURNING i."id"`;
  return new Set(updated.map((r) => r.id));
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

// Nullable JSON columns need DbNull to be cleared (a plain null/undefined would keep the old value).
const json = (v: unknown) => (v === null || v === undefined ? Prisma.DbNull : (v as Prisma.InputJsonValue));

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
