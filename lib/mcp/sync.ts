// Re-sync: connect, discover, and store metadata + the full tool catalog in one statement
// (SECURITY §22). Concurrent syncs of one integration are serialized in-process and, across
// processes, by the generation every write is conditional on, so each commit is one complete snapshot.
import type { AuthProvider, OAuthClientProvider } from "@modelcontextprotocol/client";
import { afterSync } from "@/lib/agent/events";
import { getDb, getDriver, recordset } from "@/lib/db";
import { AppError, isAppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";
import { batched, keyedSerializer } from "@/lib/serialize";
import { connectMcp, type McpConnection } from "@/lib/mcp/connect";
import {
  definitionRecord,
  discover,
  RECORD_FIELDS,
  type Discovery,
  type ToolDefinition,
} from "@/lib/mcp/discover";
import {
  engineIntegration,
  forgetCallPlans,
  integrationRows,
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
    if (!userId || !integrationId) throw notFound("Integration not found");
    const row = await loadRows({ userId, integrationId });
    if (!row) throw notFound("Integration not found");
    const integ = await engineIntegration(row);
    // The stored catalog is read while the server connects; storeSnapshot only trusts it while its
    // generation is still current.
    const stored = loadCatalog(integ.id);
    stored.catch(() => {}); // awaited below, unless connecting fails first
    let found: Discovery & { closed: Promise<void> };
    try {
      found = await connectAndDiscover(integ, opts);
    } catch (err) {
      await recordFailure(integ, err);
      throw err;
    }
    // The session's close (a DELETE for sessionful servers) runs alongside the write.
    const [diff] = await Promise.all([storeSnapshot(integ, found, await stored), found.closed]);
    forgetCallPlans(userId, integ.id);
    return afterSync<SyncDiff>(userId)(diff);
  });
}

type StoredTool = { name: string; definitionHash: string };
/** The catalog as stored at syncGeneration `generation`. */
type StoredCatalog = { generation: number; tools: StoredTool[] };

/**
 * Concurrent syncs (a re-sync of everything, list_changed from many servers) read their rows in one query,
 * and their catalogs in another: on the embedded database each statement has a fixed cost well above that
 * of a row. A row is owner-checked.
 */
const loadRows = batched(async (items: { userId: string; integrationId: string }[]) => {
  const rows = await integrationRows(
    [...new Set(items.map((i) => i.integrationId))],
    [...new Set(items.map((i) => i.userId))],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return items.map(({ userId, integrationId }) => {
    const row = byId.get(integrationId);
    return row && row.userId === userId ? row : null;
  });
});

/**
 * The stored catalog of an integration (the columns a sync compares) with the generation it is at, read in
 * one statement so the two agree; undefined once the integration is gone.
 */
const loadCatalog = batched(async (ids: string[]): Promise<(StoredCatalog | undefined)[]> => {
  const { rows } = await (
    await getDriver()
  ).query<{ id: string; syncGeneration: number; name: string | null; definitionHash: string | null }>(
    `SELECT i."id", i."syncGeneration", t."name", t."definitionHash"
     FROM "Integration" AS i LEFT JOIN "Tool" AS t ON t."integrationId" = i."id"
     WHERE i."id" = ANY($1)`,
    [[...new Set(ids)]],
  );
  const catalogs = new Map<string, StoredCatalog>();
  for (const r of rows) {
    let catalog = catalogs.get(r.id);
    if (!catalog) catalogs.set(r.id, (catalog = { generation: Number(r.syncGeneration), tools: [] }));
    if (r.name !== null) catalog.tools.push({ name: r.name, definitionHash: r.definitionHash! });
  }
  return ids.map((id) => catalogs.get(id));
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

/** Attempts at committing one sync while other writers keep moving the catalog on. */
const MAX_ATTEMPTS = 5;

/**
 * Commits the server's metadata and the catalog's changes as one snapshot. Optimistic: the write applies only
 * while the integration is still at the generation the catalog was read at (every write of a tool's name or
 * definition bumps it); when another writer got there first, the catalog is read again and diffed anew.
 */
async function storeSnapshot(
  integ: EngineIntegration,
  found: Discovery,
  stored: StoredCatalog | undefined,
): Promise<SyncDiff> {
  const { server, tools } = found;
  for (let attempt = 1; ; attempt++) {
    const catalog = attempt === 1 ? stored : await loadCatalog(integ.id);
    if (!catalog) throw notFound("Integration not found");
    const diff = diffTools(catalog.tools, tools);
    const row: MetadataRow = {
      id: integ.id,
      userId: integ.userId,
      generation: catalog.generation,
      transport: server.transport,
      serverName: server.name,
      serverTitle: server.title,
      serverVersion: server.version,
      protocolVersion: server.protocolVersion,
      protocolEra: server.era,
      instructions: server.instructions,
      capabilities: server.capabilities,
      syncedAt: new Date().toISOString(),
    };
    // Nothing to write but the metadata (the usual re-sync): batched with concurrent syncs.
    const applied =
      diff.added.length || diff.changed.length || diff.removed.length
        ? await writeSnapshot(row, diff, found.records)
        : await updateUnchanged(row);
    if (applied) return summary(diff, tools.length);
    if (attempt === MAX_ATTEMPTS) {
      throw new AppError("conflict", "The integration kept changing while it synced. Try again.", 409);
    }
  }
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

/**
 * Marks integrations connected with their server's metadata and bumps syncGeneration, for the rows of the
 * recordset parameter `$1` still at their generation; returns the ids it applied to.
 */
const UPDATE_METADATA = `UPDATE "Integration" AS i
  SET "status" = 'connected', "lastError" = NULL, "transport" = v."transport",
      "serverName" = v."serverName", "serverTitle" = v."serverTitle", "serverVersion" = v."serverVersion",
      "protocolVersion" = v."protocolVersion", "protocolEra" = v."protocolEra",
      "instructions" = v."instructions", "capabilities" = v."capabilities",
      "lastSyncedAt" = v."syncedAt", "updatedAt" = v."syncedAt", "syncGeneration" = i."syncGeneration" + 1
  FROM jsonb_to_recordset($1::jsonb) AS v("id" text, "userId" text, "generation" int, "transport" text,
       "serverName" text, "serverTitle" text, "serverVersion" text, "protocolVersion" text,
       "protocolEra" text, "instructions" text, "capabilities" jsonb, "syncedAt" timestamp(3))
  WHERE i."id" = v."id" AND i."userId" = v."userId" AND i."syncGeneration" = v."generation"
  RETURNING i."id"`;

const updateUnchanged = batched(async (rows: MetadataRow[]) => {
  const { rows: updated } = await (
    await getDriver()
  ).query<{ id: string }>(UPDATE_METADATA, [recordset(rows)]);
  const applied = new Set(updated.map((r) => r.id));
  return rows.map((r) => applied.has(r.id));
});

type ToolDiff = { added: ToolDefinition[]; changed: ToolDefinition[]; removed: StoredTool[] };

function diffTools(existing: StoredTool[], tools: ToolDefinition[]): ToolDiff {
  const before = new Map(existing.map((t) => [t.name, t]));
  const next = new Set(tools.map((t) => t.name));
  const diff: ToolDiff = { added: [], changed: [], removed: existing.filter((t) => !next.has(t.name)) };
  for (const t of tools) {
    const old = before.get(t.name);
    if (!old) diff.added.push(t);
    else if (old.definitionHash !== t.definitionHash) diff.changed.push(t);
  }
  return diff;
}

function summary(diff: ToolDiff, toolCount: number): SyncDiff {
  return {
    added: diff.added.map((t) => t.name).sort(),
    removed: diff.removed.map((t) => t.name).sort(),
    changed: diff.changed.map((t) => t.name).sort(),
    unchanged: toolCount - diff.added.length - diff.changed.length,
    toolCount,
  };
}

/**
 * The metadata and the catalog's changes in one statement, so one snapshot whatever else runs: each change
 * applies only if the metadata update did, at the generation the diff was made against. The rows travel as
 * JSON parameters, one round trip however many tools (bench/discovery.ts). Times are stored as the UTC wall
 * time, as Prisma stores DateTime: the session's time zone never enters. Returns whether it applied.
 */
async function writeSnapshot(
  row: MetadataRow,
  { added, changed, removed }: ToolDiff,
  records: Discovery["records"],
): Promise<boolean> {
  // The rows as one JSON array of definition records, which the listing made from the texts it hashed.
  const definitionRecords = (tools: ToolDefinition[]) =>
    `[${tools.map((t) => records.get(t.name) ?? definitionRecord(t)).join(",")}]`;
  const params: unknown[] = [recordset([row]), row.id, row.syncedAt];
  const param = (value: unknown) => `$${params.push(value)}`;
  const applies = `EXISTS (SELECT FROM meta)`;
  const steps = [`meta AS (${UPDATE_METADATA})`];
  if (removed.length) {
    steps.push(`removed AS (
      DELETE FROM "Tool" WHERE "integrationId" = $2 AND ${applies}
        AND "name" IN (SELECT jsonb_array_elements_text(${param(JSON.stringify(removed.map((t) => t.name)))}::jsonb)))`);
  }
  if (changed.length) {
    steps.push(`changed AS (
      UPDATE "Tool" AS t
      SET ${RECORD_FIELDS.filter((f) => f !== "name")
        .map((f) => `"${f}" = ${field("c", f)}`)
        .join(", ")},
          "changedAt" = $3::timestamp(3), "updatedAt" = $3::timestamp(3)
      FROM jsonb_array_elements(${param(definitionRecords(changed))}::jsonb) AS c
      WHERE t."integrationId" = $2 AND t."name" = ${field("c", "name")} AND ${applies})`);
  }
  if (added.length) {
    steps.push(`added AS (
      INSERT INTO "Tool" ("integrationId", ${RECORD_FIELDS.map((f) => `"${f}"`).join(", ")},
                          "enabled", "createdAt", "updatedAt")
      SELECT $2, ${RECORD_FIELDS.map((f) => field("r", f)).join(", ")}, true, $3::timestamp(3), $3::timestamp(3)
      FROM jsonb_array_elements(${param(definitionRecords(added))}::jsonb) AS r
      WHERE ${applies})`);
  }
  const sql = `WITH ${steps.join(",\n")}\nSELECT count(*)::int AS "applied" FROM meta`;
  const driver = await getDriver();
  if (driver.kind !== "pglite" || !added.length) {
    const { rows } = await driver.query<{ applied: number }>(sql, params);
    return rows[0].applied > 0;
  }
  return driver.transaction(async (q) => {
    // PGlite only (always superuser, one session): replica mode skips triggers, here the per-row
    // foreign-key check, about a third of the write. The check holds anyway: every new row's integrationId is
    // the Integration row the same statement updated (and so locked); it exists and cannot go before commit,
    // and no row is inserted if the update did not apply. Tool has no other triggers; the primary key is an
    // index and still applies. SET LOCAL ends with the transaction.
    await q(`SET LOCAL session_replication_role = replica`);
    const { rows } = await q<{ applied: number }>(sql, params);
    return rows[0].applied > 0;
  });
}

/**
 * Field `f` of the definition record `e` (a jsonb array): text, or for a JSON column jsonb whose JSON null is
 * stored as SQL NULL, as Prisma writes it.
 */
function field(e: string, f: (typeof RECORD_FIELDS)[number]): string {
  const i = RECORD_FIELDS.indexOf(f);
  return JSON_FIELDS.has(f) ? `NULLIF(${e}->${i}, 'null'::jsonb)` : `${e}->>${i}`;
}

const JSON_FIELDS = new Set<string>(["inputSchema", "outputSchema", "annotations"]);
