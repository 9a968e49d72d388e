// Kitchen recipes: an ordered list of templates (each required or optional) behind a share link.
// Admin only, except `previewRecipe`, which anyone holding a valid link may call: it only reads.
// Share tokens are verify-only secrets: 256 random bits, only their SHA-256 is stored, the full link is
// returned exactly once (on create and on rotate).
import "server-only";
import { audit } from "@/lib/data/audit";
import { hashSecret, randomToken } from "@/lib/crypto";
import {
  assertRecipeNameFree,
  assertTemplatesExist,
  deleteRecipeRow,
  findRecipes,
  insertRecipe,
  recipeByShareHash,
  recipePreviewRow,
  replaceRecipe,
  updateRecipeShare,
  type RecipeRow,
} from "@/lib/data/kitchen";
import { env } from "@/lib/env";
import { AppError, notFound } from "@/lib/errors";
import { assertAdmin, originOf, type Actor } from "@/lib/kitchen/admin";
import { recipeInputSchema, SHARE_TOKEN_RE, type RecipeInput } from "@/lib/schemas/kitchen";

export const SHARE_PREFIX = "rcp_";

function newShareToken(): { token: string; hash: string } {
  const token = randomToken(SHARE_PREFIX, 32);
  return { token, hash: hashSecret(token) };
}

export const shareUrl = (token: string) => `${env().APP_URL}/r/${token}`;

function present(r: RecipeRow) {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    shareEnabled: r.shareEnabled,
    hasShareLink: !!r.shareTokenHash,
    installCount: r._count.installs,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    items: r.items.map((i) => ({
      templateId: i.templateId,
      name: i.template.name,
      authKind: i.template.authKind,
      origin: originOf(i.template.serverUrl),
      required: i.required,
    })),
  };
}
export type RecipeView = ReturnType<typeof present>;

export async function listRecipes(actor: Actor): Promise<RecipeView[]> {
  await assertAdmin(actor);
  return (await findRecipes()).map(present);
}

export async function getRecipe(actor: Actor, id: string): Promise<RecipeView> {
  await assertAdmin(actor);
  const [row] = await findRecipes(id);
  if (!row) throw notFound("Recipe not found");
  return present(row);
}

/** Creates the recipe and its share link; the link is in the result and can't be shown again. */
export async function createRecipe(
  actor: Actor,
  input: RecipeInput,
): Promise<{ recipe: RecipeView; shareUrl: string }> {
  await assertAdmin(actor);
  const p = recipeInputSchema.parse(input);
  await assertRecipeNameFree(p.name);
  await assertTemplatesExist(p.items.map((i) => i.templateId));
  const { token, hash } = newShareToken();
  const row = await insertRecipe({ ...p, shareTokenHash: hash, createdById: actor.id });
  await audit(
    actor.id,
    "kitchen.recipe.create",
    { type: "recipe", id: row.id },
    { name: p.name, templates: p.items.map((i) => i.templateId) },
  );
  return { recipe: present(row), shareUrl: shareUrl(token) };
}

/** Replaces name, description and the whole item list (order = position). The link is unchanged. */
export async function updateRecipe(actor: Actor, id: string, input: RecipeInput): Promise<RecipeView> {
  await assertAdmin(actor);
  const p = recipeInputSchema.parse(input);
  if (!(await findRecipes(id)).length) throw notFound("Recipe not found");
  await assertRecipeNameFree(p.name, id);
  await assertTemplatesExist(p.items.map((i) => i.templateId));
  const row = await replaceRecipe(id, p);
  await audit(
    actor.id,
    "kitchen.recipe.update",
    { type: "recipe", id },
    { name: p.name, templates: p.items.map((i) => i.templateId) },
  );
  return present(row);
}

export async function deleteRecipe(actor: Actor, id: string): Promise<void> {
  await assertAdmin(actor);
  // Installed integrations stay with their owners; only the recipe, its items and install records go.
  if (!(await deleteRecipeRow(id))) throw notFound("Recipe not found");
  await audit(actor.id, "kitchen.recipe.delete", { type: "recipe", id });
}

/** A new link; the previous one stops working at once. Also (re-)enables sharing. */
export async function rotateShareLink(actor: Actor, id: string): Promise<{ shareUrl: string }> {
  await assertAdmin(actor);
  const { token, hash } = newShareToken();
  if (!(await updateRecipeShare(id, { shareTokenHash: hash, shareEnabled: true })))
    throw notFound("Recipe not found");
  await audit(actor.id, "kitchen.recipe.rotate_link", { type: "recipe", id });
  return { shareUrl: shareUrl(token) };
}

/** Disabling keeps the link's hash, so enabling again revives the same link (rotate for a new one). */
export async function setShareEnabled(actor: Actor, id: string, enabled: boolean): Promise<void> {
  await assertAdmin(actor);
  if (!(await updateRecipeShare(id, { shareEnabled: enabled }))) throw notFound("Recipe not found");
  await audit(actor.id, enabled ? "kitchen.recipe.enable_link" : "kitchen.recipe.disable_link", {
    type: "recipe",
    id,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Public side: the recipe behind a link

export type PreviewItem = {
  templateId: string;
  name: string;
  description: string;
  iconUrl: string | null;
  origin: string;
  authKind: "none" | "api_key" | "oauth";
  scopes: string[];
  required: boolean;
};
export type RecipePreview = { id: string; name: string; description: string; items: PreviewItem[] };

const LINK_INVALID = () => new AppError("invalid_link", "This link is not valid.", 404);

/** Resolves a share token to its enabled recipe's id, or throws "This link is not valid" (404). */
export async function recipeIdForToken(token: string): Promise<string> {
  if (typeof token !== "string" || !SHARE_TOKEN_RE.test(token)) throw LINK_INVALID();
  const row = await recipeByShareHash(hashSecret(token));
  if (!row?.shareEnabled) throw LINK_INVALID();
  return row.id;
}

/**
 * What a link shows before anything happens: read-only, no outbound request (docs/security.md §6). The exact
 * origin and requested scopes of each server are shown so the person knows what they agree to.
 */
export async function previewRecipe(token: string): Promise<RecipePreview> {
  const id = await recipeIdForToken(token);
  const r = await recipePreviewRow(id);
  if (!r) throw LINK_INVALID();
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    items: r.items.map((i) => ({
      templateId: i.templateId,
      name: i.template.name,
      description: i.template.description,
      iconUrl: i.template.iconUrl,
      origin: originOf(i.template.serverUrl),
      authKind: (["none", "api_key", "oauth"] as const).find((k) => k === i.template.authKind) ?? "none",
      scopes: i.template.authKind === "oauth" ? (i.template.scopes ?? "").split(" ").filter(Boolean) : [],
      required: i.required,
    })),
  };
}
