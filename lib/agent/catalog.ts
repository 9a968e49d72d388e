// What the agent endpoint exposes for one user: every enabled tool of their integrations, renamed
// `<integration>__<tool>` under the spec's tool-name rules (1–128 chars of [A-Za-z0-9_.-]), with a reverse
// map back to (integration, original tool name), and the servers' instructions merged under headings.
// Computed from the user's own rows only; cached per user and dropped on every committed change to their
// integrations (lib/data/changes.ts), so agent requests cost no query, and never see another user's data.
import { createHash } from "node:crypto";
import type { Tool } from "@modelcontextprotocol/server";
import { onToolsChanged } from "@/lib/agent/events";
import { listEnabledTools } from "@/lib/data/catalog";
import { onIntegrationsChanged, rowCacheTtlMs } from "@/lib/data/changes";
import { processState, TtlCache } from "@/lib/state";

export const SEPARATOR = "__";
const MAX_NAME = 128;
const MAX_SLUG = 40;
/** Integrations in these states keep their tools listed; calls answer with what to do instead. */
export const BLOCKED_STATUSES = new Set(["needs_auth", "needs_reauth", "offline"]);
const MAX_INSTRUCTIONS_EACH = 8 * 1024;
const MAX_INSTRUCTIONS_TOTAL = 64 * 1024;
const INSTRUCTIONS_INTRO =
  `Tools of each connected integration are named <integration>${SEPARATOR}<tool>. ` +
  "Below are the instructions each integration's server gives for its tools.";

export type CatalogTool = {
  /** the exposed (namespaced) name */
  name: string;
  integrationId: string;
  integrationName: string;
  status: string;
  /** the tool's name on its server */
  toolName: string;
  definition: Tool;
};

export type Catalog = {
  tools: CatalogTool[];
  byName: Map<string, CatalogTool>;
  instructions?: string;
  /** each integration's instructions section, for endpoints that merge a subset (toolsets) */
  sections: { integrationId: string; text: string }[];
  /** each listed integration's slug (the prefix of its tools, prompts and resource URIs), in catalog order */
  slugs: Map<string, string>;
};

const cache = processState("agentCatalog", () => {
  const c = new TtlCache<string, Promise<Catalog>>({ ttlMs: 2_000, max: 5_000 });
  onIntegrationsChanged((change) => (change.userId === undefined ? c.clear() : c.delete(change.userId)));
  // Also on tools-changed, which the endpoint answers by re-reading the catalog: whichever arrives first.
  onToolsChanged((userId) => c.delete(userId));
  return c;
});

/** The user's catalog (cached briefly). */
export function loadCatalog(userId: string): Promise<Catalog> {
  const hit = cache.get(userId);
  if (hit) return hit;
  const catalog = buildCatalog(userId);
  cache.set(userId, catalog, rowCacheTtlMs());
  // A failed load must not be served from the cache.
  catalog.catch(() => {
    if (cache.get(userId) === catalog) cache.delete(userId);
  });
  return catalog;
}

async function buildCatalog(userId: string): Promise<Catalog> {
  const integrations = await listEnabledTools(userId);
  const slugs = new Set<string>();
  const tools: CatalogTool[] = [];
  const sections: Catalog["sections"] = [];
  const slugOf = new Map<string, string>();
  for (const integ of integrations) {
    if (integ.status === "pending" && !integ.tools.length) continue;
    const slug = uniqueSlug(slugify(integ.name), slugs);
    slugOf.set(integ.id, slug);
    const taken = new Set<string>();
    for (const t of integ.tools) {
      const name = exposedName(slug, t.name, taken);
      tools.push({
        name,
        integrationId: integ.id,
        integrationName: integ.name,
        status: integ.status,
        toolName: t.name,
        // Passed through verbatim apart from the name.
        definition: {
          name,
          ...(t.title != null ? { title: t.title } : {}),
          ...(t.description != null ? { description: t.description } : {}),
          inputSchema: t.inputSchema as Tool["inputSchema"],
          ...(t.outputSchema != null ? { outputSchema: t.outputSchema as Tool["outputSchema"] } : {}),
          ...(t.annotations != null ? { annotations: t.annotations as Tool["annotations"] } : {}),
          ...(t.meta != null ? { _meta: t.meta as Tool["_meta"] } : {}),
        },
      });
    }
    const text = integ.instructions?.trim();
    if (text && integ.tools.length) {
      const body = text.length > MAX_INSTRUCTIONS_EACH ? `${text.slice(0, MAX_INSTRUCTIONS_EACH)}…` : text;
      sections.push({
        integrationId: integ.id,
        text: `## ${integ.name} (tools named ${slug}${SEPARATOR}*)\n\n${body}`,
      });
    }
  }
  return {
    tools,
    byName: new Map(tools.map((t) => [t.name, t])),
    instructions: mergeInstructions(sections.map((s) => s.text)),
    sections,
    slugs: slugOf,
  };
}

/** The servers' instructions under one intro, capped; `intro` defaults to the whole endpoint's. */
export function mergeInstructions(sections: string[], intro = INSTRUCTIONS_INTRO): string | undefined {
  if (!sections.length) return undefined;
  let out = intro;
  for (const s of sections) {
    if (out.length + s.length + 2 > MAX_INSTRUCTIONS_TOTAL) break;
    out += `\n\n${s}`;
  }
  return out;
}

const shortHash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 6);

/** "My GitHub" → "my_github": lower-case, runs of other characters → "_", at most 40 characters. */
export function slugify(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^[_.-]+|[_.-]+$/g, "")
    .slice(0, MAX_SLUG)
    .replace(/[_.-]+$/g, "");
  return slug || "integration";
}

function uniqueSlug(slug: string, taken: Set<string>): string {
  let candidate = slug;
  for (let n = 2; taken.has(candidate); n++) candidate = `${slug}-${n}`;
  taken.add(candidate);
  return candidate;
}

/** `<slug>__<tool>`: invalid characters → "_", too long or colliding → shortened plus a hash of the original. */
export function exposedName(slug: string, toolName: string, taken: Set<string>): string {
  const clean = toolName.replace(/[^A-Za-z0-9_.-]/g, "_") || "tool";
  const room = MAX_NAME - slug.length - SEPARATOR.length;
  let name = `${slug}${SEPARATOR}${clean.length <= room ? clean : `${clean.slice(0, room - 7)}-${shortHash(toolName)}`}`;
  if (taken.has(name)) name = `${slug}${SEPARATOR}${clean.slice(0, room - 7)}-${shortHash(toolName)}`;
  const base = name;
  for (let n = 2; taken.has(name); n++) name = `${base.slice(0, MAX_NAME - String(n).length - 1)}-${n}`;
  taken.add(name);
  return name;
}
