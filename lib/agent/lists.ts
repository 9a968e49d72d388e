// Resources, resource templates and prompts on the agent endpoint (docs/agents.md): every integration's, as
// last synced, namespaced like tools. A prompt is named `<integration>__<prompt>`; a resource's URI becomes
// `poke://<integration>/<original URI>` (a template likewise, its variables untouched), so an agent reads
// which integration it comes from, and a read is routed by that slug to that integration of the same user
// only: whatever follows the slug is passed to that one server as its URI, never to another.
import type {
  GetPromptResult,
  Prompt,
  ReadResourceResult,
  Resource,
  ResourceTemplateType as ResourceTemplate,
} from "@modelcontextprotocol/server";
import { BLOCKED_STATUSES, exposedName, loadCatalog } from "@/lib/agent/catalog";
import { listAgentLists } from "@/lib/data/catalog";
import { getIntegrationPrompt, readIntegrationResource } from "@/lib/data/resources";

export const URI_SCHEME = "poke://";

type Target = { integrationId: string; integrationName: string; status: string };

export type AgentLists = {
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  prompts: Prompt[];
  /** exposed prompt name → its integration and name on its server */
  promptsByName: Map<string, Target & { name: string }>;
  /** slug → integration */
  bySlug: Map<string, Target>;
};

/** `poke://<slug>/<uri>` */
export const wrapUri = (slug: string, uri: string) => `${URI_SCHEME}${slug}/${uri}`;

/** The slug and the original URI of a `poke://<slug>/<uri>`, or undefined when it is not one. */
export function unwrapUri(uri: string): { slug: string; uri: string } | undefined {
  if (!uri.startsWith(URI_SCHEME)) return undefined;
  const rest = uri.slice(URI_SCHEME.length);
  const slash = rest.indexOf("/");
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { slug: rest.slice(0, slash), uri: rest.slice(slash + 1) };
}

const opt = <K extends string, V>(k: K, v: V | null | undefined) =>
  (v == null ? {} : { [k]: v }) as Partial<Record<K, NonNullable<V>>>;

/** The user's lists now, namespaced (integrations in the agent catalog only, in its order). */
export async function loadAgentLists(userId: string): Promise<AgentLists> {
  const [catalog, rows] = await Promise.all([loadCatalog(userId), listAgentLists(userId)]);
  const out: AgentLists = {
    resources: [],
    resourceTemplates: [],
    prompts: [],
    promptsByName: new Map(),
    bySlug: new Map(),
  };
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const [integrationId, slug] of catalog.slugs) {
    const row = byId.get(integrationId);
    if (!row) continue;
    const target = { integrationId, integrationName: row.name, status: row.status };
    out.bySlug.set(slug, target);
    for (const r of row.resources) {
      out.resources.push({
        uri: wrapUri(slug, r.uri),
        name: r.name,
        ...opt("title", r.title),
        ...opt("description", r.description),
        ...opt("mimeType", r.mimeType),
        ...opt("size", r.size),
        ...opt("annotations", r.annotations as Resource["annotations"]),
        ...opt("_meta", r.meta as Resource["_meta"]),
      });
    }
    for (const t of row.resourceTemplates) {
      out.resourceTemplates.push({
        uriTemplate: wrapUri(slug, t.uriTemplate),
        name: t.name,
        ...opt("title", t.title),
        ...opt("description", t.description),
        ...opt("mimeType", t.mimeType),
        ...opt("annotations", t.annotations as ResourceTemplate["annotations"]),
        ...opt("_meta", t.meta as ResourceTemplate["_meta"]),
      });
    }
    const taken = new Set<string>();
    for (const p of row.prompts) {
      const name = exposedName(slug, p.name, taken);
      out.promptsByName.set(name, { ...target, name: p.name });
      out.prompts.push({
        name,
        ...opt("title", p.title),
        ...opt("description", p.description),
        ...opt("arguments", p.arguments),
        ...opt("_meta", p.meta as Prompt["_meta"]),
      });
    }
  }
  return out;
}

/** Why an integration can't be reached now, or undefined. */
export function blockedTarget(t: Target): string | undefined {
  return BLOCKED_STATUSES.has(t.status)
    ? `Integration "${t.integrationName}" can't be reached now (${t.status.replace("_", " ")}); the person can fix it on its page in Poke.`
    : undefined;
}

/** resources/read of a `poke://` URI on its integration; the contents' URIs are namespaced back. */
export async function readAgentResource(
  userId: string,
  lists: AgentLists,
  uri: string,
): Promise<ReadResourceResult | { error: string; notFound?: boolean }> {
  const parts = unwrapUri(uri);
  const target = parts && lists.bySlug.get(parts.slug);
  if (!parts || !target) {
    return {
      error: `Unknown resource: ${uri.slice(0, 256)}. Resource URIs here start with ${URI_SCHEME}<integration>/; list the resources again.`,
      notFound: true,
    };
  }
  const blocked = blockedTarget(target);
  if (blocked) return { error: blocked };
  const slug = parts.slug;
  const result = await readIntegrationResource({ id: userId }, target.integrationId, parts.uri);
  return {
    ...result,
    contents: result.contents.map((c) => ({ ...c, uri: wrapUri(slug, c.uri) })),
  };
}

/** prompts/get of an exposed prompt name on its integration. */
export async function getAgentPrompt(
  userId: string,
  lists: AgentLists,
  name: string,
  args: Record<string, string> | undefined,
): Promise<GetPromptResult | { error: string; notFound?: boolean }> {
  const target = lists.promptsByName.get(name);
  if (!target) {
    return { error: `Unknown prompt: ${name.slice(0, 128)}. List the prompts again.`, notFound: true };
  }
  const blocked = blockedTarget(target);
  if (blocked) return { error: blocked };
  return getIntegrationPrompt({ id: userId }, target.integrationId, target.name, args ?? {});
}
