// Installing a recipe for the signed-in person: one integration per template (created through
// lib/data/integrations, reused on a second install), then each item's authorization in turn. Progress is
// derived from the integrations themselves plus the person's choices (skips) stored in RecipeInstall, so
// an install can be left at any point — mid-OAuth included — and resumed from the link.
import "server-only";
import { audit } from "@/lib/data/audit";
import { AppError } from "@/lib/errors";
import {
  createIntegrationFromTemplate,
  deleteIntegration,
  type TemplateConnectResult,
} from "@/lib/data/integrations";
import {
  createInstall,
  deleteInstall,
  findInstall,
  integrationsFromTemplates,
  recipeItem,
  saveInstallProgress,
  unfinishedIntegrationIds,
} from "@/lib/data/kitchen";
import { previewRecipe, recipeIdForToken, type PreviewItem, type RecipePreview } from "@/lib/kitchen/recipes";
import {
  installApiKeySchema,
  installItemSchema,
  installStartSchema,
  shareTokenSchema,
} from "@/lib/schemas/kitchen";

type Owner = { id: string };

/** Stored per template id in RecipeInstall.progress. */
type Stored = "pending" | "skipped" | "connected" | "error";

export type ItemStatus =
  /** Install not started yet (preview). */
  | "not_started"
  | "connected"
  | "skipped"
  /** Waiting for the person: authorize (OAuth), enter a key, or connect. */
  | "action"
  /** Being connected (no-auth server, first sync running). */
  | "pending"
  | "error";

export type InstallItem = PreviewItem & {
  status: ItemStatus;
  integrationId: string | null;
  integrationName: string | null;
  toolCount: number;
  /** The integration's last error (already a user-facing message), when status is "error". */
  error: string | null;
  /** Reconnect rather than first authorization. */
  reauthorize: boolean;
};

export type InstallView = {
  recipe: Omit<RecipePreview, "items">;
  started: boolean;
  done: boolean;
  /** The state last stored; differs from `done` after an authorization finished elsewhere. */
  storedState: string | null;
  items: InstallItem[];
  /** The first item still waiting for the person, in recipe order. */
  nextTemplateId: string | null;
};

function storedProgress(v: unknown): Record<string, Stored> {
  if (!v || typeof v !== "object" || Array.isArray(v)) return {};
  const out: Record<string, Stored> = {};
  for (const [k, s] of Object.entries(v)) {
    if (s === "pending" || s === "skipped" || s === "connected" || s === "error") out[k] = s;
  }
  return out;
}

async function load(user: Owner, token: string) {
  const preview = await previewRecipe(token);
  const [install, integrations] = await Promise.all([
    findInstall(user, preview.id),
    integrationsFromTemplates(
      user,
      preview.items.map((i) => i.templateId),
    ),
  ]);
  return { preview, install, integrations };
}

function buildView({ preview, install, integrations }: Awaited<ReturnType<typeof load>>): InstallView {
  const progress = storedProgress(install?.progress);
  const byTemplate = new Map<string, (typeof integrations)[number]>();
  for (const i of integrations)
    if (i.templateId && !byTemplate.has(i.templateId)) byTemplate.set(i.templateId, i);
  const items = preview.items.map((item): InstallItem => {
    const integ = byTemplate.get(item.templateId);
    const base = {
      ...item,
      integrationId: integ?.id ?? null,
      integrationName: integ?.name ?? null,
      toolCount: integ?.toolCount ?? 0,
      error: null,
      reauthorize: integ?.status === "needs_reauth",
    };
    if (integ?.status === "connected") return { ...base, status: "connected" };
    if (!install) return { ...base, status: "not_started" };
    if (progress[item.templateId] === "skipped" && !item.required) return { ...base, status: "skipped" };
    if (!integ) return { ...base, status: "action" };
    if (integ.status === "error") return { ...base, status: "error", error: integ.lastError };
    if (integ.status === "pending" && item.authKind === "none") return { ...base, status: "pending" };
    // needs_auth / needs_reauth / pending API-key: the person acts; a reconnect explains why.
    return { ...base, status: "action", error: integ.status === "needs_reauth" ? integ.lastError : null };
  });
  const open = items.find((i) => i.status !== "connected" && i.status !== "skipped");
  return {
    recipe: { id: preview.id, name: preview.name, description: preview.description },
    started: !!install,
    done: !!install && !open,
    storedState: install?.state ?? null,
    items,
    nextTemplateId: install ? (open?.templateId ?? null) : null,
  };
}

/** Read-only (the recipe page's GET): the recipe plus this person's progress. */
export async function getInstallView(user: Owner, token: string): Promise<InstallView> {
  return buildView(await load(user, token));
}

async function refreshed(user: Owner, token: string, skipped?: Set<string>): Promise<InstallView> {
  const data = await load(user, token);
  const stored = storedProgress(data.install?.progress);
  const skip = skipped ?? new Set(Object.keys(stored).filter((k) => stored[k] === "skipped"));
  // The view reflects the choice being stored now, not the one stored before.
  if (data.install) {
    const progress: Record<string, Stored> = {};
    for (const [k, v] of Object.entries(stored)) if (v !== "skipped") progress[k] = v;
    for (const k of skip) progress[k] = "skipped";
    data.install = { ...data.install, progress };
  }
  const view = buildView(data);
  // Written back, so the stored record says how far the install got.
  const progress: Record<string, Stored> = {};
  for (const i of view.items) {
    progress[i.templateId] = skip.has(i.templateId)
      ? "skipped"
      : i.status === "connected"
        ? "connected"
        : i.status === "error"
          ? "error"
          : "pending";
  }
  await saveInstallProgress(user, view.recipe.id, progress, view.done ? "done" : "in_progress");
  return { ...view, storedState: view.done ? "done" : "in_progress" };
}

async function templateFor(recipeId: string, templateId: string) {
  const item = await recipeItem(recipeId, templateId);
  if (!item) throw new AppError("not_in_recipe", "That integration is no longer part of this recipe.", 404);
  return item;
}

/** True when this call created the person's install record. */
async function ensureInstall(user: Owner, recipeId: string): Promise<boolean> {
  return !(await findInstall(user, recipeId)) && (await createInstall(user, recipeId));
}

/**
 * Install (or resume): records the person's choice of optional items and creates the integrations that
 * need nothing from them yet — no-auth ones connect at once, OAuth ones wait for "Authorize". API-key
 * items are created when the key is entered. Idempotent: a second call reuses every integration.
 */
export async function startInstall(
  user: Owner,
  input: { token: string; skip?: string[] },
): Promise<InstallView> {
  const { token, skip } = installStartSchema.parse(input);
  const recipeId = await recipeIdForToken(token);
  const preview = await previewRecipe(token);
  const skipped = new Set(skip);
  for (const item of preview.items) {
    if (skipped.has(item.templateId) && item.required)
      throw new AppError("required_item", `"${item.name}" is required by this recipe and can't be skipped.`);
  }
  if (await ensureInstall(user, recipeId))
    await audit(user.id, "kitchen.install.start", { type: "recipe", id: recipeId });
  for (const item of preview.items) {
    if (skipped.has(item.templateId) || item.authKind === "api_key") continue;
    const { template } = await templateFor(recipeId, item.templateId);
    // Connection failures are recorded on the integration and shown per item; the install goes on.
    await createIntegrationFromTemplate(user, template);
  }
  return refreshed(user, token, skipped);
}

/** Connects one item again: a no-auth server re-syncs; an OAuth item's integration is (re)created. */
export async function connectItem(
  user: Owner,
  input: { token: string; templateId: string },
): Promise<{ view: InstallView; result: TemplateConnectResult }> {
  const { token, templateId } = installItemSchema.parse(input);
  const recipeId = await recipeIdForToken(token);
  const { template } = await templateFor(recipeId, templateId);
  if (template.authKind === "api_key")
    throw new AppError("api_key_required", "Enter your API key for this server.");
  await ensureInstall(user, recipeId);
  const result = await createIntegrationFromTemplate(user, template);
  return { view: await refreshed(user, token, await unskip(user, recipeId, templateId)), result };
}

/** The person's API key for an API-key item: stored encrypted on their integration, then connected. */
export async function submitApiKey(
  user: Owner,
  input: { token: string; templateId: string; apiKey: string },
): Promise<{ view: InstallView; result: TemplateConnectResult }> {
  const { token, templateId, apiKey } = installApiKeySchema.parse(input);
  const recipeId = await recipeIdForToken(token);
  const { template } = await templateFor(recipeId, templateId);
  if (template.authKind !== "api_key")
    throw new AppError("no_api_key", "This server doesn't use an API key.", 400);
  await ensureInstall(user, recipeId);
  const result = await createIntegrationFromTemplate(user, template, { apiKey });
  return { view: await refreshed(user, token, await unskip(user, recipeId, templateId)), result };
}

async function unskip(user: Owner, recipeId: string, templateId: string): Promise<Set<string>> {
  const stored = storedProgress((await findInstall(user, recipeId))?.progress);
  return new Set(Object.keys(stored).filter((k) => stored[k] === "skipped" && k !== templateId));
}

/**
 * Skips an optional item. An integration this install created for it that never connected is removed,
 * so skipping leaves nothing half-made behind; a connected one is kept (skipping never disconnects).
 */
export async function skipItem(
  user: Owner,
  input: { token: string; templateId: string },
): Promise<InstallView> {
  const { token, templateId } = installItemSchema.parse(input);
  const recipeId = await recipeIdForToken(token);
  const item = await templateFor(recipeId, templateId);
  if (item.required)
    throw new AppError(
      "required_item",
      `"${item.template.name}" is required by this recipe and can't be skipped.`,
    );
  await ensureInstall(user, recipeId);
  await removeUnfinished(user, [templateId]);
  const skipped = await unskip(user, recipeId, templateId);
  skipped.add(templateId);
  return refreshed(user, token, skipped);
}

/** Integrations made from these templates that never connected (no tools ever synced) are deleted. */
async function removeUnfinished(user: Owner, templateIds: string[]): Promise<number> {
  const ids = await unfinishedIntegrationIds(user, templateIds);
  for (const id of ids) await deleteIntegration(user, id);
  return ids.length;
}

/**
 * Abandons an install: the record goes, and so do integrations it made that never connected. Connected
 * integrations stay (they work; the person can delete them on their own page).
 */
export async function cancelInstall(user: Owner, input: { token: string }): Promise<{ removed: number }> {
  const token = shareTokenSchema.parse(input.token);
  const preview = await previewRecipe(token);
  const removed = await removeUnfinished(
    user,
    preview.items.map((i) => i.templateId),
  );
  await deleteInstall(user, preview.id);
  await audit(user.id, "kitchen.install.cancel", { type: "recipe", id: preview.id }, { removed });
  return { removed };
}

/** Re-derives and stores progress (after returning from an authorization). */
export async function syncInstallProgress(user: Owner, input: { token: string }): Promise<InstallView> {
  const token = shareTokenSchema.parse(input.token);
  await recipeIdForToken(token);
  return refreshed(user, token);
}
