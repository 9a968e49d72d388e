// Resources, resource templates and prompts of an integration, owner-scoped: the stored lists (as its server
// last listed them, synced like tools) and reading / getting one through the engine. A foreign id is
// "not found", before any outbound request.
import "server-only";
import type { GetPromptResult, ReadResourceResult } from "@modelcontextprotocol/client";
import { getDb } from "@/lib/db";
import { notFound } from "@/lib/errors";
import { getPrompt, readResource } from "@/lib/mcp/resources";
import type {
  JsonObject,
  PromptArgument,
  PromptDefinition,
  ResourceDefinition,
  ResourceTemplateDefinition,
} from "@/lib/mcp/discover";
import type { SessionUser } from "@/lib/data/users";

type Owner = Pick<SessionUser, "id">;

const parse = <T = JsonObject>(s: string | null): T | null => (s == null ? null : (JSON.parse(s) as T));

/** As stored: a definition as the sync read it, and when a re-sync last changed it. */
type Stored<T> = Omit<T, "definitionHash"> & { changedAt: Date | null };
export type StoredResource = Stored<ResourceDefinition>;
export type StoredResourceTemplate = Stored<ResourceTemplateDefinition>;
export type StoredPrompt = Omit<Stored<PromptDefinition>, "arguments"> & { arguments: PromptArgument[] };

async function owned(user: Owner, integrationId: string) {
  const db = await getDb();
  const found =
    user?.id && typeof integrationId === "string" && integrationId
      ? await db.integration.findFirst({
          where: { id: integrationId, userId: user.id },
          select: { id: true },
        })
      : null;
  if (!found) throw notFound("Integration not found");
  return db;
}

/** The integration's resources, by URI. */
export async function listResources(user: Owner, integrationId: string): Promise<StoredResource[]> {
  const db = await owned(user, integrationId);
  const rows = await db.resource.findMany({ where: { integrationId }, orderBy: { uri: "asc" } });
  return rows.map((r) => ({
    uri: r.uri,
    name: r.name,
    title: r.title,
    description: r.description,
    mimeType: r.mimeType,
    size: r.size,
    annotations: parse(r.annotations),
    meta: parse(r.meta),
    changedAt: r.changedAt,
  }));
}

/** The integration's resource templates, by URI template. */
export async function listResourceTemplates(
  user: Owner,
  integrationId: string,
): Promise<StoredResourceTemplate[]> {
  const db = await owned(user, integrationId);
  const rows = await db.resourceTemplate.findMany({
    where: { integrationId },
    orderBy: { uriTemplate: "asc" },
  });
  return rows.map((r) => ({
    uriTemplate: r.uriTemplate,
    name: r.name,
    title: r.title,
    description: r.description,
    mimeType: r.mimeType,
    annotations: parse(r.annotations),
    meta: parse(r.meta),
    changedAt: r.changedAt,
  }));
}

/** The integration's prompts, by name, with their arguments. */
export async function listPrompts(user: Owner, integrationId: string): Promise<StoredPrompt[]> {
  const db = await owned(user, integrationId);
  const rows = await db.prompt.findMany({ where: { integrationId }, orderBy: { name: "asc" } });
  return rows.map((r) => ({
    name: r.name,
    title: r.title,
    description: r.description,
    arguments: parse<PromptArgument[]>(r.arguments) ?? [],
    meta: parse(r.meta),
    changedAt: r.changedAt,
  }));
}

/** resources/read through the engine's pooled session (egress-checked, limits and breaker applied). */
export async function readIntegrationResource(
  user: Owner,
  integrationId: string,
  uri: string,
): Promise<ReadResourceResult> {
  await owned(user, integrationId);
  return readResource({ userId: user.id, integrationId }, uri);
}

/** prompts/get through the engine's pooled session. */
export async function getIntegrationPrompt(
  user: Owner,
  integrationId: string,
  name: string,
  args: Record<string, string> = {},
): Promise<GetPromptResult> {
  await owned(user, integrationId);
  return getPrompt({ userId: user.id, integrationId }, name, args);
}
