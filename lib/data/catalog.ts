// The tool catalog: each integration's tools as its server last listed them. The sync reads and writes it here,
// one whole server snapshot at a time (docs/design.md §4); pages, the API and calls read it, owner-scoped.
import { Prisma } from "@prisma/client";
import { integrationsChanged } from "@/lib/data/changes";
import { getDb } from "@/lib/db";
import { groupCommit } from "@/lib/serialize";
import type {
  CatalogDefinition,
  CatalogKind,
  JsonObject,
  RefusedTool,
  ServerMeta,
  ToolDefinition,
} from "@/lib/mcp/discover";

type Owner = { userId: string; integrationId: string };

/**
 * The stored catalog as a sync compares it (tool name → definition hash, and the same for resources by URI,
 * resource templates by URI template and prompts by name), at the integration's generation.
 */
export type StoredCatalog = {
  generation: number;
  hashes: Map<string, string>;
  lists: Record<CatalogKind, Map<string, string>>;
};

export const CATALOG_KINDS: readonly CatalogKind[] = ["resources", "resourceTemplates", "prompts"];

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
    include: {
      tools: { select: { name: true, definitionHash: true } },
      resources: { select: { uri: true, definitionHash: true } },
      resourceTemplates: { select: { uriTemplate: true, definitionHash: true } },
      prompts: { select: { name: true, definitionHash: true } },
    },
  });
  if (!row) return undefined;
  const { tools, resources, resourceTemplates, prompts, ...integration } = row;
  const catalog: StoredCatalog = {
    generation: row.syncGeneration,
    hashes: new Map(tools.map((t) => [t.name, t.definitionHash])),
    lists: {
      resources: new Map(resources.map((r) => [r.uri, r.definitionHash])),
      resourceTemplates: new Map(resourceTemplates.map((r) => [r.uriTemplate, r.definitionHash])),
      prompts: new Map(prompts.map((p) => [p.name, p.definitionHash])),
    },
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
  /** the changes to resources, resource templates and prompts (a list left out is kept as stored) */
  lists?: Partial<{ [K in CatalogKind]: ListChanges<K> }>;
  /** why lists could not be read this time, or their entries the database can't store */
  listNotes?: string[];
};

export type ListChanges<K extends CatalogKind> = {
  added: CatalogDefinition[K][];
  changed: CatalogDefinition[K][];
  removed: string[];
};
/**
 * Stores a sync's result: the server's metadata and the catalog's changes, in one transaction that applies only
 * while the integration is still at the generation the diff was made against (the update takes the row's lock,
 * and bumps the generation). Returns false when another writer got there first: the caller reads and diffs
 * again, so the stored catalog is always one server snapshot. Enabled flags stay as they are.
 */
export async function writeSnapshot(s: Snapshot): Promise<boolean> {
  const now = new Date();
  const metadata = {
    where: { id: s.integrationId, userId: s.userId, syncGeneration: s.generation },
    data: {
      status: "connected",
      lastError: null,
      syncNotice: [syncNotice(s.refused), ...(s.listNotes ?? [])].filter(Boolean).join(" ") || null,
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
  const lists = Object.values(s.lists ?? {});
  const nothing = (c: { added: unknown[]; changed: unknown[]; removed: unknown[] }) =>
    !c.added.length && !c.changed.length && !c.removed.length;
  const written =
    nothing(s) && lists.every(nothing)
      ? await updateMetadata(metadata)
      : await writeChanges(s, metadata, now);
  if (written) integrationsChanged({ userId: s.userId, integrationId: s.integrationId });
  return written;
}

/** The catalog's changes with the metadata, in one transaction (false: not at the generation any more). */
async function writeChanges(s: Snapshot, metadata: Prisma.IntegrationUpdateManyArgs, now: Date) {
  const db = await getDb();
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
      await writeLists(tx, integrationId, s.lists ?? {}, now);
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

type Tx = Prisma.TransactionClient;

/** Applies the resource, resource template and prompt changes of one snapshot (inside its transaction). */
async function writeLists(tx: Tx, integrationId: string, lists: NonNullable<Snapshot["lists"]>, now: Date) {
  const r = lists.resources;
  if (r) {
    if (r.removed.length) await tx.resource.deleteMany({ where: { integrationId, uri: { in: r.removed } } });
    if (r.added.length)
      await tx.resource.createMany({ data: r.added.map((d) => ({ integrationId, ...resourceRow(d) })) });
    for (const d of r.changed) {
      await tx.resource.update({
        where: { integrationId_uri: { integrationId, uri: d.uri } },
        data: { ...resourceRow(d), changedAt: now, updatedAt: now },
      });
    }
  }
  const t = lists.resourceTemplates;
  if (t) {
    if (t.removed.length) {
      await tx.resourceTemplate.deleteMany({ where: { integrationId, uriTemplate: { in: t.removed } } });
    }
    if (t.added.length) {
      await tx.resourceTemplate.createMany({
        data: t.added.map((d) => ({ integrationId, ...templateRow(d) })),
      });
    }
    for (const d of t.changed) {
      await tx.resourceTemplate.update({
        where: { integrationId_uriTemplate: { integrationId, uriTemplate: d.uriTemplate } },
        data: { ...templateRow(d), changedAt: now, updatedAt: now },
      });
    }
  }
  const p = lists.prompts;
  if (p) {
    if (p.removed.length) await tx.prompt.deleteMany({ where: { integrationId, name: { in: p.removed } } });
    if (p.added.length)
      await tx.prompt.createMany({ data: p.added.map((d) => ({ integrationId, ...promptRow(d) })) });
    for (const d of p.changed) {
      await tx.prompt.update({
        where: { integrationId_name: { integrationId, name: d.name } },
        data: { ...promptRow(d), changedAt: now, updatedAt: now },
      });
    }
  }
}

const resourceRow = (d: CatalogDefinition["resources"]) => ({
  uri: d.uri,
  name: d.name,
  title: d.title,
  description: d.description,
  mimeType: d.mimeType,
  size: d.size,
  annotations: text(d.annotations),
  meta: text(d.meta),
  definitionHash: d.definitionHash,
});

const templateRow = (d: CatalogDefinition["resourceTemplates"]) => ({
  uriTemplate: d.uriTemplate,
  name: d.name,
  title: d.title,
  description: d.description,
  mimeType: d.mimeType,
  annotations: text(d.annotations),
  meta: text(d.meta),
  definitionHash: d.definitionHash,
});

const promptRow = (d: CatalogDefinition["prompts"]) => ({
  name: d.name,
  title: d.title,
  description: d.description,
  arguments: d.arguments && JSON.stringify(d.arguments),
  meta: text(d.meta),
  definitionHash: d.definitionHash,
});

const definition = (t: ToolDefinition) => ({
  name: t.name,
  title: t.title,
  description: t.description,
  inputSchema: JSON.stringify(t.inputSchema),
  outputSchema: text(t.outputSchema),
  annotations: text(t.annotations),
  meta: text(t.meta),
  execution: text(t.execution ?? null),
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
    select: { inputSchema: true, enabled: true, definitionHash: true, execution: true },
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

/**
 * Every integration of the user with its stored resources, resource templates and prompts, for the agent
 * endpoint (owner-scoped; JSON parts read back).
 */
export async function listAgentLists(userId: string) {
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: { userId },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    select: {
      id: true,
      name: true,
      status: true,
      resources: { orderBy: { uri: "asc" } },
      resourceTemplates: { orderBy: { uriTemplate: "asc" } },
      prompts: { orderBy: { name: "asc" } },
    },
  });
  return rows.map((r) => ({
    ...r,
    resources: r.resources.map((x) => ({ ...x, annotations: parse(x.annotations), meta: parse(x.meta) })),
    resourceTemplates: r.resourceTemplates.map((x) => ({
      ...x,
      annotations: parse(x.annotations),
      meta: parse(x.meta),
    })),
    prompts: r.prompts.map((x) => ({
      ...x,
      arguments: parse(x.arguments) as unknown as
        { name: string; description?: string; required?: boolean }[] | null,
      meta: parse(x.meta),
    })),
  }));
}
