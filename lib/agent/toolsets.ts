// What one agent request is served: a *view* of the token owner's catalog. `/api/mcp` serves every enabled tool
// (or, for a token set to search mode, the three search tools); `/api/mcp/<toolset>` serves the toolset's
// selection (read-only toolsets: only tools annotated read-only and never destructive), with its own
// instructions, its own list_changed, and the search tools when the toolset is in search mode. Token scopes
// decide which views a token may open (docs/toolsets.md).
import { createHash } from "node:crypto";
import { loadCatalog, mergeInstructions, type Catalog, type CatalogTool } from "@/lib/agent/catalog";
import { onToolsChanged } from "@/lib/agent/events";
import { onToolsetChanged } from "@/lib/agent/toolset-events";
import {
  isReadOnlyTool,
  readEnabledToolAnnotations,
  readTokenScope,
  readToolsetRule,
  toolsetExposes,
  type ToolsetRuleRow,
} from "@/lib/data/toolsets";
import { AppError, notFound } from "@/lib/errors";
import type { JsonObject } from "@/lib/mcp/discover";
import { processState, TtlCache } from "@/lib/state";

/** Bound at request time; `key` names the handler and the sessions that share notifications. */
export type AgentView = {
  key: string;
  userId: string;
  /** set on /api/mcp/<toolset> */
  toolsetId?: string;
  /** the whole endpoint's mode (a token setting); a toolset's own mode is read with its rule */
  searchMode: boolean;
};

/** A view's catalog: the tools it exposes, its instructions and its mode. */
export type ViewCatalog = Catalog & {
  searchMode: boolean;
  readOnly: boolean;
  toolsetId?: string;
  /** the integrations' instructions by id, for the search index */
  integrationText: Map<string, string>;
};

const rules = processState("toolsetRules", () => {
  // Short, like the catalog's: edits in this process drop entries at once (events below).
  const c = new TtlCache<string, Promise<ToolsetRuleRow | null>>({ ttlMs: 2_000, max: 5_000 });
  onToolsetChanged(({ userId }) => c.deleteWhere((k) => k.startsWith(`${userId}\n`)));
  return c;
});

function loadRule(userId: string, by: { name: string } | { id: string }): Promise<ToolsetRuleRow | null> {
  const key = `${userId}\n${"id" in by ? `id:${by.id}` : `name:${by.name}`}`;
  const hit = rules.get(key);
  if (hit) return hit;
  const rule = readToolsetRule(userId, by);
  rules.set(key, rule);
  rule.catch(() => rules.get(key) === rule && rules.delete(key));
  return rule;
}

/**
 * The view a token opens: `/api/mcp` (toolset undefined) or `/api/mcp/<toolset>`. A token scoped to toolsets
 * reaches only those; an unscoped token reaches `/api/mcp` and every toolset of its owner. Another user's
 * toolset, or one that does not exist, is "not found".
 */
export async function resolveView(
  user: { id: string; tokenId: string },
  toolset?: string,
): Promise<AgentView> {
  const scope = await readTokenScope(user.id, user.tokenId);
  if (toolset === undefined) {
    if (scope.toolsetIds.length) {
      throw new AppError(
        "token_scoped",
        "This API token is limited to its toolsets: connect to /api/mcp/<toolset> instead of /api/mcp.",
        403,
      );
    }
    return {
      key: `u:${user.id}${scope.searchMode ? ":search" : ""}`,
      userId: user.id,
      searchMode: scope.searchMode,
    };
  }
  const rule = await loadRule(user.id, { name: toolset });
  if (!rule) throw notFound("Toolset not found");
  if (scope.toolsetIds.length && !scope.toolsetIds.includes(rule.id)) {
    throw new AppError("token_scope", "This API token is not allowed to use this toolset.", 403);
  }
  return { key: `t:${rule.id}`, userId: user.id, toolsetId: rule.id, searchMode: rule.searchMode };
}

/** The view's catalog now (cached per catalog and rule; both caches drop on change events). */
export async function loadView(view: AgentView): Promise<ViewCatalog> {
  const catalog = await loadCatalog(view.userId);
  if (!view.toolsetId) return wholeCatalog(catalog, view.searchMode);
  const rule = await loadRule(view.userId, { id: view.toolsetId });
  // Deleted (or renamed away and gone) since the session opened.
  if (!rule) throw notFound("Toolset not found");
  return toolsetCatalog(catalog, rule);
}

const wholeMemo = new WeakMap<Catalog, ViewCatalog[]>();
function wholeCatalog(catalog: Catalog, searchMode: boolean): ViewCatalog {
  let pair = wholeMemo.get(catalog);
  if (!pair) {
    const base = { ...catalog, readOnly: false, integrationText: integrationText(catalog) };
    pair = [
      { ...base, searchMode: false },
      { ...base, searchMode: true, instructions: searchInstructions(undefined, catalog.instructions) },
    ];
    wholeMemo.set(catalog, pair);
  }
  return pair[searchMode ? 1 : 0];
}

const toolsetMemo = new WeakMap<Catalog, WeakMap<ToolsetRuleRow, ViewCatalog>>();
function toolsetCatalog(catalog: Catalog, rule: ToolsetRuleRow): ViewCatalog {
  let byRule = toolsetMemo.get(catalog);
  if (!byRule) toolsetMemo.set(catalog, (byRule = new WeakMap()));
  const hit = byRule.get(rule);
  if (hit) return hit;
  const tools = catalog.tools.filter((t) =>
    toolsetExposes(rule, t.integrationId, t.toolName, t.definition.annotations as JsonObject | undefined),
  );
  const chosen = new Set(tools.map((t) => t.integrationId));
  const sections = catalog.sections.filter((s) => chosen.has(s.integrationId));
  const out: ViewCatalog = {
    tools,
    byName: new Map(tools.map((t) => [t.name, t])),
    sections,
    slugs: catalog.slugs,
    instructions: rule.searchMode
      ? searchInstructions(rule.description, mergeInstructions(sections.map((s) => s.text)))
      : toolsetInstructions(rule, sections),
    searchMode: rule.searchMode,
    readOnly: rule.readOnly,
    toolsetId: rule.id,
    integrationText: integrationText({ ...catalog, sections }),
  };
  byRule.set(rule, out);
  return out;
}

function toolsetInstructions(rule: ToolsetRuleRow, sections: Catalog["sections"]): string | undefined {
  const about = rule.description.trim();
  const merged = mergeInstructions(sections.map((s) => s.text));
  const readOnly = rule.readOnly
    ? "This toolset is read-only: its tools only read, they change nothing."
    : "";
  const parts = [about, readOnly, merged].filter(Boolean);
  return parts.length ? parts.join("\n\n") : undefined;
}

/** What the three search tools are for, ahead of the toolset's description and the servers' instructions. */
export function searchInstructions(description: string | undefined, merged: string | undefined): string {
  const howTo =
    "The tools of this endpoint are not listed up front: find them on demand. " +
    "1) `search_tools` with what you want to do, in plain words, returns the best matching tools (name, " +
    "short description, integration). 2) `describe_tool` with a name returns that tool's full definition, " +
    "including its input schema. 3) `call_tool` with the name and `arguments` matching the schema runs it. " +
    "Search again with other words when nothing fits; only tools this endpoint offers can be called.";
  return [description?.trim(), howTo, merged].filter(Boolean).join("\n\n");
}

/** Instructions per integration (the text the search index weighs lightly for every tool of it). */
function integrationText(catalog: Pick<Catalog, "sections">): Map<string, string> {
  return new Map(catalog.sections.map((s) => [s.integrationId, s.text]));
}

/**
 * Why a call through this view must not run, checked at call time against the stored tool (a re-sync may have
 * changed its annotations since the catalog was cached), or undefined.
 */
export async function callRefusal(
  view: AgentView,
  catalog: ViewCatalog,
  tool: CatalogTool,
): Promise<string | undefined> {
  if (!catalog.readOnly) return undefined;
  const annotations = await readEnabledToolAnnotations(view.userId, tool.integrationId, tool.toolName);
  if (annotations !== undefined && isReadOnlyTool(annotations)) return undefined;
  return `This toolset is read-only and ${tool.name} is not marked read-only by its server: it can't be called here.`;
}

/** The fingerprint of what a view's clients see in tools/list: list_changed goes out when it moves. */
export function viewFingerprint(view: ViewCatalog): string {
  if (view.searchMode) return "search";
  const h = createHash("sha256");
  for (const t of view.tools) h.update(JSON.stringify(t.definition)).update("\n");
  return h.digest("base64url");
}

/** Per toolset view: the tools/list its clients were last served or notified about. */
const seen = processState(
  "toolsetFingerprints",
  () => new TtlCache<string, string>({ ttlMs: 24 * 3600_000, max: 20_000 }),
);

type Notify = (key: string) => void;
type ViewSource = { views(userId: string): AgentView[]; notify: Notify; close(key: string): void };

/**
 * Wires change events to a view's clients: a catalog change notifies `/api/mcp` (as before) and each open
 * toolset view whose exposed tools actually moved; a toolset edit notifies that toolset; a deleted toolset's
 * handler and sessions are closed.
 */
export function routeViewEvents(source: ViewSource): void {
  const check = async (view: AgentView, always: boolean) => {
    if (!view.toolsetId) {
      if (!view.searchMode) source.notify(view.key);
      return;
    }
    let fp: string;
    try {
      fp = viewFingerprint(await loadView(view));
    } catch {
      fp = "gone";
    }
    if (always || seen.get(view.key) !== fp) {
      seen.set(view.key, fp);
      source.notify(view.key);
    }
  };
  onToolsChanged((userId) => {
    // A view can have a handler and sessions both: one check (and one notification) per view.
    const views = new Map(source.views(userId).map((v) => [v.key, v]));
    for (const view of views.values()) void check(view, false);
  });
  onToolsetChanged(({ userId, toolsetId, deleted }) => {
    const key = `t:${toolsetId}`;
    if (deleted) {
      seen.delete(key);
      source.close(key);
      return;
    }
    const view = source.views(userId).find((v) => v.key === key);
    if (view) void check(view, true);
  });
}

/** Records the fingerprint a view's clients were last served, so the next change is compared against it. */
export function rememberServed(view: AgentView, served: ViewCatalog): void {
  if (view.toolsetId) seen.set(view.key, viewFingerprint(served));
}
