// The tool catalog: each integration's tools as its server last listed them. The sync reads and writes it here,
// one whole server snapshot at a time (docs/design.md §4); pages, the API and calls read it, owner-scoped.
import { Prisma } from "@prisma/client";
import { getDb } from "@/lib/db";
import { groupCommit } from "@/lib/serialize";
import type { JsonObject, RefusedTool, ServerMeta, ToolDefinition } from "@/lib/mcp/discover";

type Owner = { userId: string; integrationId: string };

/** The stored catalog as a sync compares it (tool name → definition hash), at the integration's generation. */
export type StoredCatalog = { generation: number; hashes: Map<string, string> };

/** The integration row, or null when it is gone or not the user's. */
export async function readIntegration({ userId, integrationId }: Owner) {
  const db = await getDb();
  return db.integration.findFirst({ where: { id: integrationId, userId } });
}

/** The integration and its stored catalog, read together; undefined when it is gone or not the user's. */
export async function readIntegrationCatalog({ userId, integrationId }: Owner) {
  const db = await getDb();
  const row = await db.integration.findFirst({
    where: { id: integrationId, userId },
    include: { tools: { select: { name: true, definitionHash: true } } },
  });
  if (!row) return undefined;
  const { tools, ...integration } = row;
  const catalog: StoredCatalog = {
    generation: row.syncGeneration,
    hashes: new Map(tools.map((t) => [t.name, t.definitionHash])),
  };
  return { integration, catalog };
}

/** Undefined when the integration is gone or not the user's. */
export async function readCatalog(owner: Owner): Promise<StoredCatalog | undefined> {
  return (await readIntegrationCatalog(owner))?.catalog;
}

/** What one sync found, diffed against the catalog at `generation`. */
export type Snapshot = Owner & {
  generation: number;
  server: ServerMeta;
  refused: RefusedTool[];
  added: ToolDefinition[];
  changed: ToolDefinition[];
  removed: string[];
};

/**
 * Stores a sync's result: the server's metadata and the catalog's changes, in one transaction that applies only
 * while the integration is still at the generation the diff was made against (the update takes the row's lock,
 * and bumps the generation). Returns false when another writer got there first: the caller reads and diffs
 * again, so the stored catalog is always one server snapshot. Enabled flags stay as they are.
 */
export async function writeSnapshot(s: Snapshot): Promise<boolean> {
  const db = await getDb();
  const now = new Date();
  const metadata = {
    where: { id: s.integrationId, userId: s.userId, syncGeneration: s.generation },
    data: {
      status: "connected",
      lastError: null,
      syncNotice: syncNotice(s.refused),
      transport: s.server.transport,
      serverName: s.server.name,
      serverTitle: s.server.title,
      serverVersion: s.server.version,
      protocolVersion: s.server.protocolVersion,
      protocolEra: s.server.era,
      instructions: s.server.instructions,
      capabilities: json(s.server.capabilities),
      lastSyncedAt: now,
      syncGeneration: { increment: 1 },
    },
  } satisfies Prisma.IntegrationUpdateManyArgs;
  if (!s.added.length && !s.changed.length && !s.removed.length) return updateMetadata(metadata);
  const integrationId = s.integrationId;
  return db.$transaction(
    async (tx) => {
      if (!(await tx.integration.updateMany(metadata)).count) return false;
      if (s.removed.length) {
        await tx.tool.deleteMany({ where: { integrationId, name: { in: s.removed } } });
      }
      if (s.added.length) {
        await tx.tool.createMany({ data: s.added.map((t) => ({ integrationId, ...definition(t) })) });
      }
      for (const t of s.changed) {
        await tx.tool.update({
          where: { integrationId_name: { integrationId, name: t.name } },
          data: { ...definition(t), changedAt: now, updatedAt: now },
        });
      }
      return true;
    },
    // A thousand-tool catalog on a busy machine: bounded, but far from the defaults' 2 s wait and 5 s run.
    { maxWait: 30_000, timeout: 120_000 },
  );
}

/**
 * The metadata of syncs that found nothing to change (the usual re-sync): concurrent ones share one transaction,
 * so fifty re-syncs at once cost one commit rather than fifty. Each write still applies only at its generation.
 */
const updateMetadata = groupCommit(async (writes: Prisma.IntegrationUpdateManyArgs[]) => {
  const db = await getDb();
  const done = await db.$transaction(writes.map((w) => db.integration.updateMany(w)));
  return done.map((r) => r.count > 0);
});

const json = (v: object | null) => (v === null ? Prisma.DbNull : (v as Prisma.InputJsonObject));

/** A definition's JSON parts are stored as JSON text: exact (Prisma's JSON write rounds long decimals). */
const text = (v: object | null) => (v === null ? null : JSON.stringify(v));

const definition = (t: ToolDefinition) => ({
  name: t.name,
  title: t.title,
  description: t.description,
  inputSchema: JSON.stringify(t.inputSchema),
  outputSchema: text(t.outputSchema),
  annotations: text(t.annotations),
  meta: text(t.meta),
  definitionHash: t.definitionHash,
});

type StoredJson = {
  inputSchema?: string;
  outputSchema?: string | null;
  annotations?: string | null;
  meta?: string | null;
};
type Parsed<T> = Omit<T, keyof StoredJson> & {
  [K in keyof StoredJson & keyof T]: null extends T[K] ? JsonObject | null : JsonObject;
};
const parse = (s: string | null | undefined) => (s == null ? null : (JSON.parse(s) as JsonObject));

/** A stored tool with its JSON parts read back. */
export function storedTool<T extends StoredJson>(row: T): Parsed<T> {
  const out: Record<string, unknown> = { ...row };
  for (const k of ["inputSchema", "outputSchema", "annotations", "meta"] as const) {
    if (k in row) out[k] = parse(row[k]);
  }
  return out as Parsed<T>;
}

/**
 * What the integration says about tools the sync left out, or null: those the database can't store as
 * sent, and those the protocol says to leave out (invalid `x-mcp-header` declarations), each with why.
 */
function syncNotice(refused: RefusedTool[]): string | null {
  const sentence = (list: RefusedTool[], why: string) => {
    if (!list.length) return "";
    const listed = list
      .slice(0, 5)
      .map((r) => `"${r.name}" (${r.reason})`)
      .join("; ");
    const more = list.length > 5 ? ` and ${list.length - 5} more` : "";
    return `Left out ${list.length === 1 ? "1 tool" : `${list.length} tools`} ${why}: ${listed}${more}.`;
  };
  const text = [
    sentence(
      refused.filter((r) => r.kind !== "protocol"),
      "the database can't store as sent",
    ),
    sentence(
      refused.filter((r) => r.kind === "protocol"),
      "whose definitions MCP clients must not use",
    ),
  ]
    .filter(Boolean)
    .join(" ");
  return text || null;
}

/** The one tool a call needs: its input schema and whether it is enabled; null when there is no such tool. */
export async function callableTool({ userId, integrationId }: Owner, name: string) {
  const db = await getDb();
  const tool = await db.tool.findFirst({
    where: { integrationId, name, integration: { userId } },
    select: { inputSchema: true, enabled: true, definitionHash: true },
  });
  return tool && storedTool(tool);
}

/** A tool as servers define it (what pages, the API and the agent endpoint pass on). */
export const toolDefinitionSelect = {
  name: true,
  title: true,
  description: true,
  inputSchema: true,
  outputSchema: true,
  annotations: true,
  meta: true,
} satisfies Prisma.ToolSelect;

/**
 * Every integration of the user with its enabled tools, for the agent endpoint. Oldest first: the order decides
 * who keeps the plain name when two integrations' names slugify alike.
 */
export async function listEnabledTools(userId: string) {
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: { userId },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    select: {
      id: true,
      name: true,
      status: true,
      instructions: true,
      tools: { where: { enabled: true }, orderBy: { name: "asc" }, select: toolDefinitionSelect },
    },
  });
  return rows.map((r) => ({ ...r, tools: r.tools.map(storedTool) }));
}
