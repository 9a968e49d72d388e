// Kitchen rows: templates, recipes and their items, and each person's installs. Templates and recipes are
// admin data (lib/kitchen checks the role before calling here); installs and the integrations they made
// are owner-scoped. A template's client secret is write-only: encrypted here, never returned.
import "server-only";
import { randomUUID } from "node:crypto";
import { Prisma } from "@prisma/client";
import { aad, encryptField } from "@/lib/crypto";
import { integrationsChanged } from "@/lib/data/changes";
import { getDb, isUniqueViolation } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";

type Owner = { id: string };
/** A form field's error: the Kitchen forms show it beside the field. */
export const fieldError = (field: string, message: string) =>
  new AppError("invalid_input", message, 400, { field });

// ---------------------------------------------------------------------------------------------------------
// Templates

/** Every column but who created it (the secret leaves lib/kitchen only as "is one set"). */
const templateOmit = { createdById: true } as const;
export type TemplateRow = Prisma.TemplateGetPayload<{ omit: typeof templateOmit }>;

/** What a template write sets, besides the secret. */
export type TemplateColumns = Omit<
  Prisma.TemplateUncheckedCreateInput,
  "id" | "clientSecretEnc" | "clientPrivateKeyEnc" | "createdById" | "version" | "createdAt" | "updatedAt"
> & { extraAuthParams: Record<string, string> };
/** The client secret of a write: unchanged, removed, or replaced. */
export type SecretChange = "keep" | "clear" | { set: string };

const secretColumn = (id: string, secret: SecretChange) =>
  secret === "clear"
    ? { clientSecretEnc: null }
    : typeof secret === "object"
      ? { clientSecretEnc: encryptField(secret.set, aad("Template", "clientSecretEnc", id)) }
      : {};

/** The private key (private_key_jwt, PKCS#8 PEM) of a write: unchanged, removed, or replaced. */
const keyColumn = (id: string, key: SecretChange) =>
  key === "clear"
    ? { clientPrivateKeyEnc: null }
    : typeof key === "object"
      ? { clientPrivateKeyEnc: encryptField(key.set, aad("Template", "clientPrivateKeyEnc", id)) }
      : {};

function duplicateTemplate(e: unknown): never {
  if (isUniqueViolation(e)) throw fieldError("name", "A template with this name or slug already exists.");
  throw e;
}

/** All templates (or one), with how many integrations and which recipes use each. */
export async function findTemplates(id?: string) {
  const db = await getDb();
  const rows = await db.template.findMany({
    where: id ? { id } : {},
    orderBy: { name: "asc" },
    omit: templateOmit,
    include: {
      _count: { select: { integrations: true } },
      recipeItems: { select: { recipe: { select: { id: true, name: true } } } },
    },
  });
  return rows.map(({ _count, recipeItems, ...r }) => ({
    row: r,
    integrationCount: _count.integrations,
    recipes: recipeItems.map((i) => i.recipe),
  }));
}

/** Throws a field error when another template has this name (in any case) or slug. */
export async function assertTemplateNameFree(name: string, slug: string, exceptId?: string): Promise<void> {
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

export async function insertTemplate(
  data: TemplateColumns,
  secret: SecretChange,
  createdById: string,
  key: SecretChange = "keep",
): Promise<TemplateRow> {
  const id = randomUUID();
  const db = await getDb();
  return db.template
    .create({
      data: { id, ...data, ...secretColumn(id, secret), ...keyColumn(id, key), createdById },
      omit: templateOmit,
    })
    .catch(duplicateTemplate);
}

/** `bump` marks a change integrations made from it must follow (new URL or credentials). */
export async function updateTemplateRow(
  id: string,
  data: TemplateColumns,
  secret: SecretChange,
  bump: boolean,
  key: SecretChange = "keep",
): Promise<TemplateRow> {
  const db = await getDb();
  return db.template
    .update({
      where: { id },
      data: {
        ...data,
        ...secretColumn(id, secret),
        ...keyColumn(id, key),
        ...(bump ? { version: { increment: 1 } } : {}),
      },
      omit: templateOmit,
    })
    .catch(duplicateTemplate);
}

/**
 * Deletes a template no recipe uses: refused otherwise, rather than silently shrinking recipes people may
 * be installing right now. Integrations stay with their owners (the FK sets templateId to null); OAuth
 * ones lose the client they were authorized with, so their grants go and they say why.
 */
export async function deleteTemplateRow(id: string) {
  const db = await getDb();
  const t = await db.template.findUnique({
    where: { id },
    select: { name: true, recipeItems: { select: { recipe: { select: { name: true } } } } },
  });
  if (!t) throw notFound("Template not found");
  const inUse = (names: string[]) =>
    new AppError(
      "template_in_use",
      `"${t.name}" is used by the recipe${names.length > 1 ? "s" : ""} ${names.map((n) => `"${n}"`).join(", ")}. Remove it from ${names.length > 1 ? "those recipes" : "that recipe"} first.`,
      409,
    );
  if (t.recipeItems.length) throw inUse(t.recipeItems.map((i) => i.recipe.name));
  const oauth = await db.integration.findMany({
    where: { templateId: id, authKind: "oauth" },
    select: { id: true, userId: true },
  });
  const ids = oauth.map((i) => i.id);
  const lastError = `The Kitchen template "${t.name}" this integration came from was deleted, and with it the OAuth client it used. Ask an admin, or delete this integration.`;
  const detached = await db.$transaction(async (tx) => {
    if (ids.length) {
      await tx.oAuthGrant.deleteMany({ where: { integrationId: { in: ids } } });
      await tx.oAuthPending.deleteMany({ where: { integrationId: { in: ids }, consumedAt: null } });
      await tx.integration.updateMany({ where: { id: { in: ids } }, data: { status: "error", lastError } });
    }
    const count = await tx.integration.count({ where: { templateId: id } });
    // Re-checked inside the transaction: a recipe may have picked the template up meanwhile.
    if (await tx.recipeItem.count({ where: { templateId: id } })) {
      throw new AppError("template_in_use", `"${t.name}" was just added to a recipe; try again.`, 409);
    }
    await tx.template.delete({ where: { id } });
    return count;
  });
  integrationsChanged({});
  return { name: t.name, detached, oauth };
}

export type FollowRow = { id: string; userId: string; authKind: string; apiKeyEnc: string | null };

export async function integrationsOfTemplate(templateId: string): Promise<FollowRow[]> {
  const db = await getDb();
  return db.integration.findMany({
    where: { templateId },
    select: { id: true, userId: true, authKind: true, apiKeyEnc: true },
  });
}

/** What a template change does to the integrations made from it, decided by lib/kitchen/templates.ts. */
export type FollowChanges = {
  /** The template's new server URL, for all of them. */
  url?: string;
  /** Grants, pending authorizations, dynamic registrations and discovery go. */
  dropOAuth: string[];
  /** Integration ids, each group with what it is set to. */
  set: { ids: string[]; data: Prisma.IntegrationUpdateManyMutationInput }[];
};

export async function applyFollow(templateId: string, c: FollowChanges): Promise<void> {
  const db = await getDb();
  await db.$transaction(async (tx) => {
    if (c.url) {
      await tx.integration.updateMany({ where: { templateId }, data: { url: c.url, transport: null } });
    }
    if (c.dropOAuth.length) {
      const where = { integrationId: { in: c.dropOAuth } };
      await tx.oAuthGrant.deleteMany({ where });
      await tx.oAuthPending.deleteMany({ where: { ...where, consumedAt: null } });
      await tx.oAuthClient.deleteMany({ where: { ...where, source: { in: ["dcr", "cimd"] } } });
      await tx.integration.updateMany({
        where: { id: { in: c.dropOAuth } },
        data: { oauthDiscovery: Prisma.DbNull },
      });
    }
    for (const { ids, data } of c.set) {
      if (ids.length) await tx.integration.updateMany({ where: { id: { in: ids }, templateId }, data });
    }
  });
  integrationsChanged({});
}

/** Templates for the recipe editor (names only). */
export async function templateChoices() {
  const db = await getDb();
  return db.template.findMany({
    orderBy: { name: "asc" },
    select: { id: true, name: true, authKind: true, serverUrl: true },
  });
}

/** The template an integration came from, for its owner's integration page (name only). */
export async function templateBadgeFor(user: Owner, templateId: string | null | undefined) {
  if (!templateId) return null;
  const db = await getDb();
  // Only for someone who has an integration from it: template names are not public otherwise.
  return db.template.findFirst({
    where: { id: templateId, integrations: { some: { userId: user.id } } },
    select: { name: true, iconUrl: true },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Recipes

const recipeSelect = {
  id: true,
  name: true,
  description: true,
  shareEnabled: true,
  shareTokenHash: true,
  createdAt: true,
  updatedAt: true,
  _count: { select: { installs: true } },
  items: {
    orderBy: { position: "asc" },
    select: {
      templateId: true,
      required: true,
      template: { select: { name: true, authKind: true, serverUrl: true } },
    },
  },
} satisfies Prisma.RecipeSelect;
export type RecipeRow = Prisma.RecipeGetPayload<{ select: typeof recipeSelect }>;
export type RecipeItemInput = { templateId: string; required: boolean };

function duplicateRecipe(e: unknown): never {
  if (isUniqueViolation(e)) throw fieldError("name", "A recipe with this name already exists.");
  throw e;
}

/** All recipes (or one). */
export async function findRecipes(id?: string): Promise<RecipeRow[]> {
  const db = await getDb();
  return db.recipe.findMany({ where: id ? { id } : {}, orderBy: { name: "asc" }, select: recipeSelect });
}

export async function assertTemplatesExist(ids: string[]): Promise<void> {
  const db = await getDb();
  if ((await db.template.count({ where: { id: { in: ids } } })) !== ids.length)
    throw fieldError("items", "A template in this recipe no longer exists. Reload the page and try again.");
}

export async function assertRecipeNameFree(name: string, exceptId?: string): Promise<void> {
  const db = await getDb();
  const clash = await db.recipe.findFirst({
    where: { name: { equals: name, mode: "insensitive" }, ...(exceptId ? { NOT: { id: exceptId } } : {}) },
    select: { name: true },
  });
  if (clash) throw fieldError("name", `A recipe named "${clash.name}" already exists. Choose another name.`);
}

const itemRows = (items: RecipeItemInput[]) =>
  items.map((i, position) => ({ templateId: i.templateId, required: i.required, position }));

export async function insertRecipe(r: {
  name: string;
  description: string;
  shareTokenHash: string;
  createdById: string;
  items: RecipeItemInput[];
}): Promise<RecipeRow> {
  const db = await getDb();
  return db.recipe
    .create({
      data: { ...r, id: randomUUID(), shareEnabled: true, items: { create: itemRows(r.items) } },
      select: recipeSelect,
    })
    .catch(duplicateRecipe);
}

/** Replaces name, description and the whole item list (order = position). */
export async function replaceRecipe(
  id: string,
  r: { name: string; description: string; items: RecipeItemInput[] },
): Promise<RecipeRow> {
  const db = await getDb();
  return db
    .$transaction(async (tx) => {
      await tx.recipeItem.deleteMany({ where: { recipeId: id } });
      await tx.recipeItem.createMany({ data: itemRows(r.items).map((i) => ({ ...i, recipeId: id })) });
      return tx.recipe.update({
        where: { id },
        data: { name: r.name, description: r.description },
        select: recipeSelect,
      });
    })
    .catch(duplicateRecipe);
}

/** False when there is no such recipe. Installed integrations stay with their owners. */
export async function deleteRecipeRow(id: string): Promise<boolean> {
  const db = await getDb();
  return (await db.recipe.deleteMany({ where: { id } })).count > 0;
}

/** False when there is no such recipe. */
export async function updateRecipeShare(
  id: string,
  data: { shareEnabled: boolean; shareTokenHash?: string },
): Promise<boolean> {
  const db = await getDb();
  return (await db.recipe.updateMany({ where: { id }, data })).count > 0;
}

export async function recipeByShareHash(shareTokenHash: string) {
  const db = await getDb();
  return db.recipe.findUnique({ where: { shareTokenHash }, select: { id: true, shareEnabled: true } });
}

/** What a share link shows: the recipe and, per item, the public facts of its template. */
export async function recipePreviewRow(id: string) {
  const db = await getDb();
  return db.recipe.findUnique({
    where: { id },
    select: {
      id: true,
      name: true,
      description: true,
      items: {
        orderBy: { position: "asc" },
        select: {
          templateId: true,
          required: true,
          template: {
            select: {
              name: true,
              description: true,
              iconUrl: true,
              serverUrl: true,
              authKind: true,
              scopes: true,
            },
          },
        },
      },
    },
  });
}

/** One item of a recipe with the template facts an install needs, or null. */
export async function recipeItem(recipeId: string, templateId: string) {
  const db = await getDb();
  return db.recipeItem.findFirst({
    where: { recipeId, templateId },
    select: {
      required: true,
      template: { select: { id: true, name: true, serverUrl: true, authKind: true } },
    },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Installs (owner-scoped)

export async function findInstall(user: Owner, recipeId: string) {
  const db = await getDb();
  return db.recipeInstall.findUnique({
    where: { recipeId_userId: { recipeId, userId: user.id } },
    select: { id: true, state: true, progress: true },
  });
}

/** The person's integrations made from these templates, oldest first, with their tool counts. */
export async function integrationsFromTemplates(user: Owner, templateIds: string[]) {
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: { userId: user.id, templateId: { in: templateIds } },
    orderBy: { createdAt: "asc" },
    select: {
      id: true,
      name: true,
      templateId: true,
      status: true,
      lastError: true,
      _count: { select: { tools: true } },
    },
  });
  return rows.map(({ _count, ...r }) => ({ ...r, toolCount: _count.tools }));
}

/** Creates the person's install record unless one exists; true when this call created it. */
export async function createInstall(user: Owner, recipeId: string): Promise<boolean> {
  const db = await getDb();
  try {
    await db.recipeInstall.create({ data: { recipeId, userId: user.id, progress: {} } });
    return true;
  } catch (e) {
    // A second tab clicked Install at the same moment: use its record.
    if (!isUniqueViolation(e)) throw e;
    return false;
  }
}

export async function saveInstallProgress(
  user: Owner,
  recipeId: string,
  progress: Record<string, string>,
  state: "done" | "in_progress",
): Promise<void> {
  const db = await getDb();
  await db.recipeInstall.updateMany({ where: { recipeId, userId: user.id }, data: { progress, state } });
}

export async function deleteInstall(user: Owner, recipeId: string): Promise<void> {
  const db = await getDb();
  await db.recipeInstall.deleteMany({ where: { recipeId, userId: user.id } });
}

/** The person's integrations from these templates that never connected (no tools ever synced, no grant). */
export async function unfinishedIntegrationIds(user: Owner, templateIds: string[]): Promise<string[]> {
  const db = await getDb();
  const rows = await db.integration.findMany({
    where: {
      userId: user.id,
      templateId: { in: templateIds },
      status: { not: "connected" },
      lastSyncedAt: null,
      grant: { is: null },
    },
    select: { id: true },
  });
  return rows.map((r) => r.id);
}
