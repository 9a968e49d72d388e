// Toolsets, owner-scoped: a person's curated agent endpoints (/api/mcp/<name>) — chosen integrations and tools,
// optionally read-only or served in search mode — and API tokens' scopes (the toolsets a token may reach, and
// whether /api/mcp answers it in search mode). Every query is filtered by the caller's user id; a foreign
// toolset, token or integration is "not found".
import type { Prisma } from "@prisma/client";
import { emitToolsetChanged } from "@/lib/agent/toolset-events";
import { forgetApiTokens } from "@/lib/data/api-tokens";
import { audit } from "@/lib/data/audit";
import { storedTool, toolDefinitionSelect } from "@/lib/data/catalog";
import { getDb, isUniqueViolation } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";
import type { JsonObject } from "@/lib/mcp/discover";
import { processState, TtlCache } from "@/lib/state";
import {
  tokenScopeSchema,
  toolsetCreateSchema,
  toolsetNameSchema,
  toolsetUpdateSchema,
  type TokenScopeInput,
  type ToolsetCreateInput,
  type ToolsetUpdateInput,
} from "@/lib/schemas/toolsets";

type Owner = { id: string };

/** One selection; `toolName` "" = every tool of the integration, including tools a later sync adds. */
export type ToolsetItemView = { integrationId: string; integrationName: string; toolName: string };

export type ToolsetSummary = {
  id: string;
  name: string;
  description: string;
  readOnly: boolean;
  searchMode: boolean;
  createdAt: Date;
  updatedAt: Date;
  itemCount: number;
  /** unrevoked tokens scoped to this toolset */
  tokenCount: number;
};

export type ToolsetView = Omit<ToolsetSummary, "itemCount" | "tokenCount"> & {
  items: ToolsetItemView[];
  /** unrevoked tokens scoped to this toolset (never the secret: name and display prefix) */
  tokens: { id: string; name: string; prefix: string }[];
};

/** A token's scope: no toolsets = the whole /api/mcp endpoint (in search mode when `searchMode`). */
export type TokenScope = {
  tokenId: string;
  searchMode: boolean;
  toolsets: { id: string; name: string }[];
};

const viewSelect = {
  id: true,
  name: true,
  description: true,
  readOnly: true,
  searchMode: true,
  createdAt: true,
  updatedAt: true,
  items: {
    orderBy: [{ integration: { name: "asc" } }, { toolName: "asc" }],
    select: { integrationId: true, toolName: true, integration: { select: { name: true } } },
  },
  apiTokens: {
    where: { revokedAt: null },
    orderBy: { createdAt: "asc" },
    select: { id: true, name: true, prefix: true },
  },
} satisfies Prisma.ToolsetSelect;
type ViewRow = Prisma.ToolsetGetPayload<{ select: typeof viewSelect }>;

const present = ({ items, apiTokens, ...row }: ViewRow): ToolsetView => ({
  ...row,
  items: items.map((i) => ({
    integrationId: i.integrationId,
    integrationName: i.integration.name,
    toolName: i.toolName,
  })),
  tokens: apiTokens,
});

export async function listToolsets(user: Owner): Promise<ToolsetSummary[]> {
  const db = await getDb();
  const rows = await db.toolset.findMany({
    where: { userId: user.id },
    orderBy: { name: "asc" },
    select: {
      id: true,
      name: true,
      description: true,
      readOnly: true,
      searchMode: true,
      createdAt: true,
      updatedAt: true,
      _count: { select: { items: true, apiTokens: { where: { revokedAt: null } } } },
    },
  });
  return rows.map(({ _count, ...r }) => ({ ...r, itemCount: _count.items, tokenCount: _count.apiTokens }));
}

export async function getToolset(user: Owner, id: string): Promise<ToolsetView> {
  const db = await getDb();
  const row = await db.toolset.findFirst({ where: { id, userId: user.id }, select: viewSelect });
  if (!row) throw notFound("Toolset not found");
  return present(row);
}

/** By its endpoint name (exact). */
export async function getToolsetByName(user: Owner, name: string): Promise<ToolsetView> {
  const db = await getDb();
  const row = await db.toolset.findFirst({ where: { name, userId: user.id }, select: viewSelect });
  if (!row) throw notFound("Toolset not found");
  return present(row);
}

export async function createToolset(user: Owner, input: ToolsetCreateInput): Promise<ToolsetView> {
  const data = toolsetCreateSchema.parse(input);
  const db = await getDb();
  const row = await db
    .$transaction(async (tx) => {
      const items = await checkedItems(tx, user, data.items);
      return tx.toolset.create({
        data: {
          userId: user.id,
          name: data.name,
          description: data.description,
          readOnly: data.readOnly,
          searchMode: data.searchMode,
          items: { create: items },
        },
        select: viewSelect,
      });
    })
    .catch(nameTaken(data.name));
  // The name may have been looked up (and found missing) before it existed.
  emitToolsetChanged({ userId: user.id, toolsetId: row.id, deleted: false });
  await audit(user.id, "toolset.create", { type: "toolset", id: row.id }, { name: row.name });
  return present(row);
}

/** Changes what is given; `items`, when given, replaces the whole selection. */
export async function updateToolset(
  user: Owner,
  id: string,
  input: ToolsetUpdateInput,
): Promise<ToolsetView> {
  const patch = toolsetUpdateSchema.parse(input);
  const db = await getDb();
  const row = await db
    .$transaction(async (tx) => {
      const found = await tx.toolset.findFirst({ where: { id, userId: user.id }, select: { id: true } });
      if (!found) throw notFound("Toolset not found");
      const items = patch.items && (await checkedItems(tx, user, patch.items));
      if (items) await tx.toolsetItem.deleteMany({ where: { toolsetId: id } });
      return tx.toolset.update({
        where: { id },
        data: {
          name: patch.name,
          description: patch.description,
          readOnly: patch.readOnly,
          searchMode: patch.searchMode,
          ...(items ? { items: { create: items } } : {}),
        },
        select: viewSelect,
      });
    })
    .catch(nameTaken(patch.name ?? ""));
  emitToolsetChanged({ userId: user.id, toolsetId: id, deleted: false });
  await audit(
    user.id,
    "toolset.update",
    { type: "toolset", id },
    { fields: Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined) },
  );
  return present(row);
}

/**
 * Deletes a toolset. A token scoped to it alone would be left with no scope, which means every tool, so such
 * tokens are revoked with it; tokens scoped to other toolsets too keep those.
 */
export async function deleteToolset(user: Owner, id: string): Promise<void> {
  const db = await getDb();
  const { scoped, revoked } = await db.$transaction(async (tx) => {
    const found = await tx.toolset.findFirst({
      where: { id, userId: user.id },
      select: { apiTokens: { select: { id: true, _count: { select: { toolsets: true } } } } },
    });
    if (!found) throw notFound("Toolset not found");
    const alone = found.apiTokens.filter((t) => t._count.toolsets === 1).map((t) => t.id);
    if (alone.length) {
      await tx.apiToken.updateMany({
        where: { id: { in: alone }, userId: user.id, revokedAt: null },
        data: { revokedAt: new Date() },
      });
    }
    await tx.toolset.delete({ where: { id } });
    return { scoped: found.apiTokens.map((t) => t.id), revoked: alone };
  });
  for (const tokenId of scoped) scopes.delete(tokenId);
  forgetApiTokens(revoked);
  emitToolsetChanged({ userId: user.id, toolsetId: id, deleted: true });
  await audit(
    user.id,
    "toolset.delete",
    { type: "toolset", id },
    revoked.length ? { revokedTokens: revoked } : undefined,
  );
}

const nameTaken = (name: string) => (e: unknown) => {
  if (isUniqueViolation(e)) {
    throw new AppError("name_taken", `You already have a toolset named "${name}"`, 409, { field: "name" });
  }
  throw e;
};

/**
 * The selection as stored: every integration is the user's (else "not found"), a named tool exists on it now,
 * duplicates and tools already covered by "every tool of this integration" are dropped.
 */
async function checkedItems(
  tx: Prisma.TransactionClient,
  user: Owner,
  items: { integrationId: string; toolName: string }[],
): Promise<{ integrationId: string; toolName: string }[]> {
  if (!items.length) return [];
  const ids = [...new Set(items.map((i) => i.integrationId))];
  const owned = await tx.integration.findMany({
    where: { id: { in: ids }, userId: user.id },
    select: { id: true, tools: { select: { name: true } } },
  });
  const toolsOf = new Map(owned.map((i) => [i.id, new Set(i.tools.map((t) => t.name))]));
  const whole = new Set(items.filter((i) => i.toolName === "").map((i) => i.integrationId));
  const out = new Map<string, { integrationId: string; toolName: string }>();
  for (const item of items) {
    const tools = toolsOf.get(item.integrationId);
    if (!tools) throw notFound("Integration not found");
    if (item.toolName !== "" && whole.has(item.integrationId)) continue;
    if (item.toolName !== "" && !tools.has(item.toolName)) {
      throw new AppError(
        "tool_not_found",
        `The integration has no tool named "${item.toolName.slice(0, 128)}"`,
        404,
      );
    }
    out.set(JSON.stringify([item.integrationId, item.toolName]), item);
  }
  return [...out.values()];
}

// ---------------------------------------------------------------------------------------------------------
// What a toolset exposes

/** Read-only means the server says so (`readOnlyHint: true`) and never says destructive. */
export function isReadOnlyTool(annotations: JsonObject | null | undefined): boolean {
  return annotations?.readOnlyHint === true && annotations?.destructiveHint !== true;
}

/** The selection rule, shared by the endpoint (over its cached catalog) and the pages. */
export type ToolsetRule = {
  readOnly: boolean;
  items: { integrationId: string; toolName: string }[];
};

/** Whether a toolset exposes an (enabled) tool. */
export function toolsetExposes(
  rule: ToolsetRule,
  integrationId: string,
  toolName: string,
  annotations: JsonObject | null | undefined,
): boolean {
  if (rule.readOnly && !isReadOnlyTool(annotations)) return false;
  return rule.items.some(
    (i) => i.integrationId === integrationId && (i.toolName === "" || i.toolName === toolName),
  );
}

/**
 * For the agent endpoint: a toolset by endpoint name or id with its rule (no rows beyond the selection);
 * null when the user has no such toolset.
 */
export async function readToolsetRule(userId: string, by: { name: string } | { id: string }) {
  if ("name" in by && !toolsetNameSchema.safeParse(by.name).success) return null;
  const db = await getDb();
  return db.toolset.findFirst({
    where: { ...by, userId },
    select: {
      id: true,
      name: true,
      description: true,
      readOnly: true,
      searchMode: true,
      items: { select: { integrationId: true, toolName: true } },
    },
  });
}
export type ToolsetRuleRow = NonNullable<Awaited<ReturnType<typeof readToolsetRule>>>;

/**
 * Which tools the toolset exposes: the enabled tools of its chosen integrations and tools (read-only: only
 * tools annotated `readOnlyHint: true` and not `destructiveHint: true`), grouped by integration, with each
 * integration's instructions. Tool names are the servers' own (the endpoint namespaces them).
 */
export async function listToolsetTools(user: Owner, id: string) {
  const db = await getDb();
  const toolset = await db.toolset.findFirst({ where: { id, userId: user.id }, select: viewSelect });
  if (!toolset) throw notFound("Toolset not found");
  const rule: ToolsetRule = { readOnly: toolset.readOnly, items: toolset.items };
  const integrations = await db.integration.findMany({
    where: { userId: user.id, id: { in: [...new Set(toolset.items.map((i) => i.integrationId))] } },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    select: {
      id: true,
      name: true,
      status: true,
      instructions: true,
      tools: { where: { enabled: true }, orderBy: { name: "asc" }, select: toolDefinitionSelect },
    },
  });
  return {
    toolset: present(toolset),
    integrations: integrations.map((integ) => ({
      ...integ,
      tools: integ.tools.map(storedTool).filter((t) => toolsetExposes(rule, integ.id, t.name, t.annotations)),
    })),
  };
}

/**
 * Every integration of the user with every tool (enabled or not) and whether a read-only toolset would keep it:
 * what a toolset's selection is made from.
 */
export async function listToolChoices(user: Owner) {
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: { userId: user.id },
    orderBy: { name: "asc" },
    select: {
      id: true,
      name: true,
      status: true,
      tools: {
        orderBy: { name: "asc" },
        select: { name: true, title: true, description: true, annotations: true, enabled: true },
      },
    },
  });
  return rows.map((r) => ({
    ...r,
    tools: r.tools.map((t) => {
      const { annotations, ...rest } = storedTool(t);
      return { ...rest, readOnly: isReadOnlyTool(annotations) };
    }),
  }));
}

/** The stored annotations of one enabled tool, read at call time; undefined when there is no such tool. */
export async function readEnabledToolAnnotations(userId: string, integrationId: string, toolName: string) {
  const db = await getDb();
  const row = await db.tool.findFirst({
    where: { integrationId, name: toolName, enabled: true, integration: { userId } },
    select: { annotations: true },
  });
  return row ? storedTool(row).annotations : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Token scopes

/**
 * Scopes the endpoint checked, briefly, so each agent request costs no extra query. Changing a scope in this
 * process drops the entry at once; another instance notices within SCOPE_TTL_MS (as with revocation,
 * lib/data/api-tokens.ts).
 */
const SCOPE_TTL_MS = 10_000;
const scopes = processState(
  "tokenScopes",
  () =>
    new TtlCache<string, { searchMode: boolean; toolsetIds: string[] }>({ ttlMs: SCOPE_TTL_MS, max: 10_000 }),
);

/** Sets which toolsets a token reaches (none = the whole /api/mcp) and whether /api/mcp serves it in search mode. */
export async function setTokenScope(
  user: Owner,
  tokenId: string,
  input: TokenScopeInput,
): Promise<TokenScope> {
  const { toolsetIds, searchMode } = tokenScopeSchema.parse(input);
  const ids = [...new Set(toolsetIds)];
  const db = await getDb();
  const row = await db.$transaction(async (tx) => {
    const token = await tx.apiToken.findFirst({
      where: { id: tokenId, userId: user.id, revokedAt: null },
      select: { id: true },
    });
    if (!token) throw notFound("Token not found");
    const owned = await tx.toolset.count({ where: { id: { in: ids }, userId: user.id } });
    if (owned !== ids.length) throw notFound("Toolset not found");
    return tx.apiToken.update({
      where: { id: tokenId },
      data: { searchMode, toolsets: { set: ids.map((id) => ({ id })) } },
      select: scopeSelect,
    });
  });
  scopes.delete(tokenId);
  await audit(
    user.id,
    "api_token.scope",
    { type: "api_token", id: tokenId },
    { toolsetIds: ids, searchMode },
  );
  return presentScope(row);
}

const scopeSelect = {
  id: true,
  searchMode: true,
  toolsets: { orderBy: { name: "asc" }, select: { id: true, name: true } },
} satisfies Prisma.ApiTokenSelect;
const presentScope = (r: Prisma.ApiTokenGetPayload<{ select: typeof scopeSelect }>): TokenScope => ({
  tokenId: r.id,
  searchMode: r.searchMode,
  toolsets: r.toolsets,
});

export async function getTokenScope(user: Owner, tokenId: string): Promise<TokenScope> {
  const db = await getDb();
  const row = await db.apiToken.findFirst({
    where: { id: tokenId, userId: user.id, revokedAt: null },
    select: scopeSelect,
  });
  if (!row) throw notFound("Token not found");
  return presentScope(row);
}

/** The scope of each of the user's unrevoked tokens (for Settings). */
export async function listTokenScopes(user: Owner): Promise<TokenScope[]> {
  const db = await getDb();
  const rows = await db.apiToken.findMany({
    where: { userId: user.id, revokedAt: null },
    orderBy: { createdAt: "desc" },
    select: scopeSelect,
  });
  return rows.map(presentScope);
}

/**
 * For everything but the agent endpoints (/api/v1, the tunnel): a token scoped to toolsets is an agent's token
 * and reaches nothing else, or the scope would be one call away from every tool.
 */
export async function assertUnscopedToken(userId: string, tokenId: string): Promise<void> {
  const { toolsetIds } = await readTokenScope(userId, tokenId);
  if (toolsetIds.length) {
    throw new AppError(
      "token_scoped",
      "This API token is limited to its toolsets' agent endpoints (/api/mcp/<toolset>): use an unscoped token here.",
      403,
    );
  }
}

/** For the agent endpoint: an authenticated token's scope (cached briefly). */
export async function readTokenScope(
  userId: string,
  tokenId: string,
): Promise<{ searchMode: boolean; toolsetIds: string[] }> {
  const hit = scopes.get(tokenId);
  if (hit) return hit;
  const db = await getDb();
  const row = await db.apiToken.findFirst({
    where: { id: tokenId, userId },
    select: { searchMode: true, toolsets: { select: { id: true } } },
  });
  // Gone since it authenticated (its account was deleted).
  if (!row) throw new AppError("invalid_token", "Invalid API token", 401);
  const scope = { searchMode: row.searchMode, toolsetIds: row.toolsets.map((t) => t.id) };
  scopes.set(tokenId, scope);
  return scope;
}
