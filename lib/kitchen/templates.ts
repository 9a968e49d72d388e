// Kitchen templates: an MCP server URL plus how its users authenticate (none, per-user API key, or OAuth
// with admin-supplied client credentials). Admin only. The client secret is write-only: encrypted with AAD
// naming its row, never returned by any function here (views carry `hasClientSecret`).
import "server-only";
import { randomUUID } from "node:crypto";
import { Prisma, type Template } from "@prisma/client";
import { audit } from "@/lib/audit";
import { encryptField } from "@/lib/crypto";
import { getDb, isUniqueViolation } from "@/lib/db";
import { AppError, isAppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";
import { assertAdmin, originOf, type Actor } from "@/lib/kitchen/admin";
import { dropSession } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { validateUserUrl } from "@/lib/net/egress";
import { assertSafeOAuthUrl } from "@/lib/oauth/net";
import { slugify, templateInputSchema, type TemplateInput, type TemplateParsed } from "@/lib/schemas/kitchen";

export const templateSecretAad = (id: string) => ({ table: "Template", column: "clientSecretEnc", id });

/** Every column but the secret; the secret only as "is one set". */
const viewSelect = {
  id: true,
  name: true,
  slug: true,
  description: true,
  iconUrl: true,
  serverUrl: true,
  authKind: true,
  clientId: true,
  clientSecretEnc: true,
  scopes: true,
  issuer: true,
  resourceMode: true,
  resourceOverride: true,
  extraAuthParams: true,
  tokenEndpointAuthMethod: true,
  version: true,
  createdAt: true,
  updatedAt: true,
} satisfies Prisma.TemplateSelect;

type ViewRow = Prisma.TemplateGetPayload<{ select: typeof viewSelect }>;

function present({ clientSecretEnc, extraAuthParams, ...row }: ViewRow) {
  return {
    ...row,
    origin: originOf(row.serverUrl),
    hasClientSecret: !!clientSecretEnc,
    extraAuthParams: stringRecord(extraAuthParams),
  };
}
export type TemplateView = ReturnType<typeof present>;
export type TemplateListItem = TemplateView & {
  integrationCount: number;
  recipes: { id: string; name: string }[];
};

function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== "object" || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string"));
}

export async function listTemplates(actor: Actor): Promise<TemplateListItem[]> {
  await assertAdmin(actor);
  const db = await getDb();
  const rows = await db.template.findMany({
    orderBy: { name: "asc" },
    select: {
      ...viewSelect,
      _count: { select: { integrations: true } },
      recipeItems: { select: { recipe: { select: { id: true, name: true } } } },
    },
  });
  return rows.map(({ _count, recipeItems, ...r }) => ({
    ...present(r),
    integrationCount: _count.integrations,
    recipes: recipeItems.map((i) => i.recipe),
  }));
}

export async function getTemplate(actor: Actor, id: string): Promise<TemplateListItem> {
  await assertAdmin(actor);
  const db = await getDb();
  const row = await db.template.findUnique({
    where: { id },
    select: {
      ...viewSelect,
      _count: { select: { integrations: true } },
      recipeItems: { select: { recipe: { select: { id: true, name: true } } } },
    },
  });
  if (!row) throw notFound("Template not found");
  const { _count, recipeItems, ...r } = row;
  return { ...present(r), integrationCount: _count.integrations, recipes: recipeItems.map((i) => i.recipe) };
}

// ---------------------------------------------------------------------------------------------------------
// Validation beyond the schema: URL policy, credential consistency

type Normalized = Omit<TemplateParsed, "clientSecret" | "clearClientSecret" | "slug" | "extraAuthParams"> & {
  slug: string;
  extraAuthParams: Record<string, string>;
};

function fieldError(field: string, message: string): AppError {
  return new AppError("invalid_input", message, 400, { field });
}

function safeOAuthUrl(raw: string, field: string, what: string): string {
  try {
    return assertSafeOAuthUrl(raw, what).href;
  } catch {
    throw fieldError(
      field,
      `The ${what} must be an https:// URL without user name or password (http only for localhost in development).`,
    );
  }
}

/**
 * Normalizes and checks a parsed input against the stored row (for the secret rules). Non-OAuth templates
 * carry no OAuth settings at all, so switching a template away from OAuth drops its credentials.
 */
function normalize(
  p: TemplateParsed,
  current: Pick<Template, "clientSecretEnc"> | null,
): { data: Normalized; secret: "keep" | "clear" | { set: string } } {
  let serverUrl: string;
  try {
    serverUrl = validateUserUrl(p.serverUrl).href;
  } catch (e) {
    throw fieldError("serverUrl", isAppError(e) ? e.message : "That is not a valid URL.");
  }
  const base = {
    name: p.name,
    slug: p.slug ?? slugify(p.name),
    description: p.description,
    iconUrl: p.iconUrl,
    serverUrl,
    authKind: p.authKind,
  };
  if (p.authKind !== "oauth") {
    return {
      data: {
        ...base,
        clientId: null,
        scopes: null,
        issuer: null,
        resourceMode: "default",
        resourceOverride: null,
        extraAuthParams: {},
        tokenEndpointAuthMethod: undefined,
      },
      secret: current?.clientSecretEnc ? "clear" : "keep",
    };
  }
  const secret: "keep" | "clear" | { set: string } = p.clientSecret
    ? { set: p.clientSecret }
    : p.clearClientSecret || !p.clientId
      ? current?.clientSecretEnc
        ? "clear"
        : "keep"
      : "keep";
  const willHaveSecret = typeof secret === "object" || (secret === "keep" && !!current?.clientSecretEnc);
  if (p.clientSecret && !p.clientId) {
    throw fieldError("clientId", "A client secret needs a client ID: enter the client ID too.");
  }
  const method = p.tokenEndpointAuthMethod;
  if ((method === "client_secret_basic" || method === "client_secret_post") && !willHaveSecret) {
    throw fieldError("clientSecret", `${method} needs a client secret: enter it, or choose "none".`);
  }
  if (method === "none" && willHaveSecret) {
    throw fieldError(
      "tokenEndpointAuthMethod",
      'A public client ("none") sends no secret: remove the secret or choose client_secret_basic/post.',
    );
  }
  if (method && !p.clientId) {
    throw fieldError("tokenEndpointAuthMethod", "The token endpoint auth method needs a client ID.");
  }
  if (p.resourceMode === "override" && !p.resourceOverride) {
    throw fieldError("resourceOverride", "Enter the resource to send, or choose another resource mode.");
  }
  return {
    data: {
      ...base,
      clientId: p.clientId,
      scopes: p.scopes,
      issuer: p.issuer ? safeOAuthUrl(p.issuer, "issuer", "issuer").replace(/\/$/, "") : null,
      resourceMode: p.resourceMode,
      resourceOverride:
        p.resourceMode === "override" && p.resourceOverride
          ? safeOAuthUrl(p.resourceOverride, "resourceOverride", "resource override")
          : null,
      extraAuthParams: p.extraAuthParams,
      tokenEndpointAuthMethod: method,
    },
    secret,
  };
}

/** Issuers are compared as strings by the OAuth client; keep exactly what the admin (or Test) gave. */
function issuerAsGiven(p: TemplateParsed, n: Normalized): string | null {
  return n.issuer && p.issuer ? p.issuer : n.issuer;
}

async function assertNameFree(name: string, slug: string, exceptId?: string): Promise<void> {
  const db = await getDb();
  const clash = await db.template.findFirst({
    where: {
      OR: [{ name: { equals: name, mode: "insensitive" } }, { slug }],
      ...(exceptId ? { NOT: { id: exceptId } } : {}),
    },
    select: { name: true, slug: true },
  });
  if (!clash) return;
  if (clash.name.toLowerCase() === name.toLowerCase())
    throw fieldError("name", `A template named "${clash.name}" already exists. Choose another name.`);
  throw fieldError("slug", `The slug "${slug}" is already used by "${clash.name}". Choose another slug.`);
}

function duplicateError(e: unknown): never {
  if (isUniqueViolation(e)) throw fieldError("name", "A template with this name or slug already exists.");
  throw e;
}

const columns = (n: Normalized, issuer: string | null) => ({
  name: n.name,
  slug: n.slug,
  description: n.description,
  iconUrl: n.iconUrl,
  serverUrl: n.serverUrl,
  authKind: n.authKind,
  clientId: n.clientId,
  scopes: n.scopes,
  issuer,
  resourceMode: n.resourceMode,
  resourceOverride: n.resourceOverride,
  extraAuthParams: n.extraAuthParams,
  tokenEndpointAuthMethod: n.tokenEndpointAuthMethod ?? null,
});

// ---------------------------------------------------------------------------------------------------------
// Create / update / delete

export async function createTemplate(actor: Actor, input: TemplateInput): Promise<TemplateView> {
  await assertAdmin(actor);
  const p = templateInputSchema.parse(input);
  const { data, secret } = normalize(p, null);
  await assertNameFree(data.name, data.slug);
  const id = randomUUID();
  const db = await getDb();
  const row = await db.template
    .create({
      data: {
        id,
        ...columns(data, issuerAsGiven(p, data)),
        extraAuthParams: data.extraAuthParams,
        clientSecretEnc: typeof secret === "object" ? encryptField(secret.set, templateSecretAad(id)) : null,
        createdById: actor.id,
      },
      select: viewSelect,
    })
    .catch(duplicateError);
  await audit(
    actor.id,
    "kitchen.template.create",
    { type: "template", id },
    {
      name: data.name,
      origin: originOf(data.serverUrl),
      authKind: data.authKind,
      hasClientSecret: typeof secret === "object",
    },
  );
  return present(row);
}

/** What an update did to the integrations made from the template. */
export type FollowSummary = {
  integrations: number;
  resynced: number;
  reauthorize: number;
  keyCleared: number;
};
export type TemplateUpdateResult = { template: TemplateView; followed: FollowSummary };

const CREDENTIAL_FIELDS = ["clientId", "tokenEndpointAuthMethod", "issuer", "authKind"] as const;

export async function updateTemplate(
  actor: Actor,
  id: string,
  input: TemplateInput,
): Promise<TemplateUpdateResult> {
  await assertAdmin(actor);
  const p = templateInputSchema.parse(input);
  const db = await getDb();
  const current = await db.template.findUnique({ where: { id } });
  if (!current) throw notFound("Template not found");
  const { data, secret } = normalize(p, current);
  await assertNameFree(data.name, data.slug, id);
  const next = columns(data, issuerAsGiven(p, data));

  const changed = (Object.keys(next) as (keyof typeof next)[]).filter(
    (k) =>
      JSON.stringify(next[k] ?? null) !== JSON.stringify((current as Record<string, unknown>)[k] ?? null),
  );
  const secretChanged = secret !== "keep";
  const urlChanged = changed.includes("serverUrl");
  const credentialsChanged = secretChanged || CREDENTIAL_FIELDS.some((f) => changed.includes(f));

  const row = await db.template
    .update({
      where: { id },
      data: {
        ...next,
        extraAuthParams: data.extraAuthParams,
        ...(secret === "clear"
          ? { clientSecretEnc: null }
          : typeof secret === "object"
            ? { clientSecretEnc: encryptField(secret.set, templateSecretAad(id)) }
            : {}),
        ...(urlChanged || credentialsChanged ? { version: { increment: 1 } } : {}),
      },
      select: viewSelect,
    })
    .catch(duplicateError);
  await audit(
    actor.id,
    "kitchen.template.update",
    { type: "template", id },
    {
      fields: [...changed, ...(secretChanged ? ["clientSecret"] : [])],
      ...(urlChanged ? { origin: originOf(data.serverUrl) } : {}),
    },
  );
  const followed = await followTemplate(actor, current, row, { urlChanged, credentialsChanged });
  return { template: present(row), followed };
}

export async function deleteTemplate(actor: Actor, id: string): Promise<{ detached: number }> {
  await assertAdmin(actor);
  const db = await getDb();
  const t = await db.template.findUnique({
    where: { id },
    select: {
      id: true,
      name: true,
      recipeItems: { select: { recipe: { select: { name: true } } } },
    },
  });
  if (!t) throw notFound("Template not found");
  // Refused rather than silently shrinking recipes people may be installing right now.
  if (t.recipeItems.length) {
    const names = t.recipeItems.map((i) => `"${i.recipe.name}"`).join(", ");
    throw new AppError(
      "template_in_use",
      `"${t.name}" is used by the recipe${t.recipeItems.length > 1 ? "s" : ""} ${names}. Remove it from ${t.recipeItems.length > 1 ? "those recipes" : "that recipe"} first.`,
      409,
    );
  }
  const oauth = await db.integration.findMany({
    where: { templateId: id, authKind: "oauth" },
    select: { id: true, userId: true },
  });
  const ids = oauth.map((i) => i.id);
  // Integrations stay with their owners (the FK sets templateId to null); OAuth ones lose the client they
  // were authorized with, so their tokens can't be refreshed: drop them now and say why.
  const detached = await db.$transaction(async (tx) => {
    if (ids.length) {
      await tx.oAuthGrant.deleteMany({ where: { integrationId: { in: ids } } });
      await tx.oAuthPending.deleteMany({ where: { integrationId: { in: ids }, consumedAt: null } });
      await tx.integration.updateMany({
        where: { id: { in: ids } },
        data: {
          status: "error",
          lastError: `The Kitchen template "${t.name}" this integration came from was deleted, and with it the OAuth client it used. Ask an admin, or delete this integration.`,
        },
      });
    }
    const count = await tx.integration.count({ where: { templateId: id } });
    // Re-check inside the transaction: a recipe may have picked the template up meanwhile.
    if (await tx.recipeItem.count({ where: { templateId: id } })) {
      throw new AppError("template_in_use", `"${t.name}" was just added to a recipe; try again.`, 409);
    }
    await tx.template.delete({ where: { id } });
    return count;
  });
  for (const i of oauth) await dropSession(i.userId, i.id).catch(() => {});
  await audit(actor.id, "kitchen.template.delete", { type: "template", id }, { name: t.name, detached });
  return { detached };
}

// ---------------------------------------------------------------------------------------------------------
// Integrations follow their template

const RESYNC_CONCURRENCY = 4;

type FollowRow = { id: string; userId: string; authKind: string; apiKeyEnc: string | null };
type Plan = { reauth: FollowRow[]; needKey: FollowRow[]; clearKey: FollowRow[]; resync: FollowRow[] };

/**
 * Decides, per integration made from the template, what a change means for it:
 * - OAuth template: a new URL or new credentials → grant dropped (tokens were issued for the old resource or
 *   client and must not be sent anywhere else) and "reconnect" shown.
 * - API-key template: the key is kept only while the server's origin is unchanged (a key is meant for one
 *   server); without a key the owner is asked for it; with one the integration re-syncs.
 * - No-auth template: re-sync at the new URL.
 */
function planFollow(
  rows: FollowRow[],
  before: Template,
  after: ViewRow,
  what: { urlChanged: boolean; credentialsChanged: boolean },
): Plan {
  const plan: Plan = { reauth: [], needKey: [], clearKey: [], resync: [] };
  const kindChanged = before.authKind !== after.authKind;
  const originChanged = originOf(before.serverUrl) !== originOf(after.serverUrl);
  for (const r of rows) {
    if (after.authKind === "oauth") {
      if (what.urlChanged || what.credentialsChanged) plan.reauth.push(r);
      if (r.apiKeyEnc) plan.clearKey.push(r);
      continue;
    }
    const keepKey = after.authKind === "api_key" && !!r.apiKeyEnc && !(what.urlChanged && originChanged);
    if (r.apiKeyEnc && !keepKey) plan.clearKey.push(r);
    if (after.authKind === "api_key" && !keepKey) plan.needKey.push(r);
    else if (what.urlChanged || kindChanged) plan.resync.push(r);
  }
  return plan;
}

async function followTemplate(
  actor: Actor,
  before: Template,
  after: ViewRow,
  what: { urlChanged: boolean; credentialsChanged: boolean },
): Promise<FollowSummary> {
  const summary: FollowSummary = { integrations: 0, resynced: 0, reauthorize: 0, keyCleared: 0 };
  if (!what.urlChanged && !what.credentialsChanged) return summary;
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: { templateId: after.id },
    select: { id: true, userId: true, authKind: true, apiKeyEnc: true },
  });
  summary.integrations = rows.length;
  if (!rows.length) return summary;
  const plan = planFollow(rows, before, after, what);
  const ids = (list: FollowRow[]) => ({ id: { in: list.map((r) => r.id) } });
  const wasOAuth = before.authKind === "oauth";
  const reauthMessage = what.urlChanged
    ? "An admin moved this integration's server; reconnect to authorize the new address."
    : "An admin updated this integration's sign-in settings; reconnect to continue.";

  await db.$transaction(async (tx) => {
    if (what.urlChanged) {
      await tx.integration.updateMany({
        where: { templateId: after.id },
        data: { url: after.serverUrl, transport: null },
      });
    }
    // Leaving OAuth, or re-authorizing: no token or registration from before may be used again.
    const dropOAuth = wasOAuth && after.authKind !== "oauth" ? rows : plan.reauth;
    if (dropOAuth.length) {
      const where = { integrationId: { in: dropOAuth.map((r) => r.id) } };
      await tx.oAuthGrant.deleteMany({ where });
      await tx.oAuthPending.deleteMany({ where: { ...where, consumedAt: null } });
      await tx.oAuthClient.deleteMany({ where: { ...where, source: { in: ["dcr", "cimd"] } } });
      await tx.integration.updateMany({ where: ids(dropOAuth), data: { oauthDiscovery: Prisma.DbNull } });
    }
    if (plan.reauth.length) {
      await tx.integration.updateMany({
        where: ids(plan.reauth),
        data: {
          authKind: "oauth",
          status: wasOAuth ? "needs_reauth" : "needs_auth",
          lastError: wasOAuth ? reauthMessage : null,
        },
      });
    }
    if (plan.clearKey.length) {
      await tx.integration.updateMany({ where: ids(plan.clearKey), data: { apiKeyEnc: null } });
    }
    if (plan.needKey.length) {
      await tx.integration.updateMany({
        where: ids(plan.needKey),
        data: {
          authKind: "api_key",
          status: "error",
          lastError: "An admin changed this integration's server: enter your API key for it (Edit).",
        },
      });
    }
    if (plan.resync.length) {
      await tx.integration.updateMany({
        where: ids(plan.resync),
        data: { authKind: after.authKind, status: "pending", lastError: null },
      });
    }
  });
  summary.reauthorize = plan.reauth.length;
  summary.keyCleared = plan.clearKey.length;
  for (const r of rows) await dropSession(r.userId, r.id).catch(() => {});

  let next = 0;
  const worker = async () => {
    while (next < plan.resync.length) {
      const r = plan.resync[next++];
      try {
        await syncIntegration(r.userId, r.id);
        summary.resynced++;
      } catch (e) {
        // The sync recorded its error on the integration, where its owner sees it.
        if (!isAppError(e)) log.warn("re-sync after template change failed", { integrationId: r.id });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, plan.resync.length) }, worker));
  await audit(actor.id, "kitchen.template.followed", { type: "template", id: after.id }, summary);
  return summary;
}

// ---------------------------------------------------------------------------------------------------------
// For other Kitchen modules and the integration page

/** Templates by id for the recipe editor (names only). */
export async function templateChoices(actor: Actor) {
  await assertAdmin(actor);
  const db = await getDb();
  return db.template.findMany({
    orderBy: { name: "asc" },
    select: { id: true, name: true, authKind: true, serverUrl: true },
  });
}

/** The template an integration came from, for its owner's integration page (name only). */
export async function templateBadgeFor(user: Actor, templateId: string | null | undefined) {
  if (!templateId) return null;
  const db = await getDb();
  // Only for someone who has an integration from it: template names are not public otherwise.
  const owned = await db.integration.count({ where: { userId: user.id, templateId } });
  if (!owned) return null;
  return db.template.findUnique({ where: { id: templateId }, select: { name: true, iconUrl: true } });
}
