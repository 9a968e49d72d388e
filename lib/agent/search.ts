// Search mode: instead of every tool, an agent sees three — search the catalog by intent, describe one tool,
// call one by name — so hundreds of tools cost a few hundred tokens of context. Ranking is full-text
// (MiniSearch) over each tool's name, title, description, parameter names and descriptions, its integration's
// name and (lightly) its instructions. The index is built lazily per view and rebuilt when the view's
// catalog content changes (every sync or toggle changes it), never from a stale copy.
import { createHash } from "node:crypto";
import MiniSearch from "minisearch";
import type { CallToolResult, Tool } from "@modelcontextprotocol/server";
import type { CatalogTool } from "@/lib/agent/catalog";
import { processState, TtlCache } from "@/lib/state";

export const SEARCH_TOOL = "search_tools";
export const DESCRIBE_TOOL = "describe_tool";
export const CALL_TOOL = "call_tool";
const DEFAULT_LIMIT = 8;
const MAX_LIMIT = 20;
const MAX_QUERY = 500;
const SHORT_DESCRIPTION = 160;
const SYNONYM_WEIGHT = 0.5;

/** What the search index reads of a tool. */
export type SearchableTool = Pick<CatalogTool, "name" | "integrationId" | "integrationName" | "definition">;

export type SearchHit = {
  name: string;
  title?: string;
  description: string;
  integration: string;
  score: number;
};

// ---------------------------------------------------------------------------------------------------------
// Text processing

const STOP = new Set(
  "a about an and any are as at be by can could do does for from get give have i in into is it its let me my of on or our please some than that the their them then there these this to up us want we what when where which with would you your".split(
    " ",
  ),
);

/**
 * Words people use for the same action or thing; a query term also searches its group's other words, weighed
 * less than the term itself. General English equivalences, not any one server's vocabulary.
 */
const SYNONYMS = [
  ["create", "add", "new", "make", "open", "start", "write"],
  ["delete", "remove", "erase", "drop", "destroy", "discard", "trash", "forget"],
  ["update", "edit", "change", "modify", "rename", "set"],
  ["list", "all", "enumerate", "browse", "show"],
  ["get", "read", "fetch", "view", "retrieve", "see", "look", "details", "info", "open", "show"],
  ["search", "find", "query", "lookup", "locate", "look", "filter"],
  ["stop", "cancel", "abort", "halt", "kill"],
  ["retry", "rerun", "again", "restart"],
  ["wait", "until", "finish", "poll"],
  ["copy", "fork", "clone", "duplicate"],
  ["sum", "add", "plus", "total"],
  ["diff", "change", "changed", "difference"],
  ["activity", "event", "events", "feed"],
  ["elevation", "altitude", "height", "high"],
  ["image", "photo", "picture", "img", "media"],
  ["repository", "repo", "project"],
  ["pr", "pull", "merge", "mr"],
  ["issue", "ticket", "bug"],
  ["comment", "reply", "note", "discussion"],
  ["file", "document", "doc"],
  ["directory", "folder", "dir"],
  ["page", "tab", "website", "site", "web", "url"],
  ["navigate", "go", "visit", "goto"],
  ["screenshot", "snapshot", "capture", "picture"],
  ["click", "press", "tap"],
  ["type", "fill", "enter", "input"],
  ["message", "post", "chat"],
  ["user", "member", "person", "people", "account"],
  ["entity", "entities", "memory", "remember", "knowledge"],
  ["directions", "route"],
  ["place", "places", "restaurant", "nearby", "location"],
  ["pipeline", "ci", "build", "job"],
  ["wiki", "documentation"],
];

/** A light stemmer: plural and verb endings off, so "creating issues" meets "create_issue". */
export function stem(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith("ies")) return `${w.slice(0, -3)}y`;
  for (const suffix of ["ing", "ion", "ed", "es", "s", "e"]) {
    if (w.length - suffix.length >= 3 && w.endsWith(suffix) && !(suffix === "s" && w.endsWith("ss"))) {
      w = w.slice(0, -suffix.length);
      // "logged" → "log", "running" → "run"
      if ((suffix === "ing" || suffix === "ed") && /([^aeioulsz])\1$/.test(w)) w = w.slice(0, -1);
      break;
    }
  }
  return w;
}

const synonymsOf = new Map<string, string[]>();
for (const group of SYNONYMS) {
  const stems = [...new Set(group.map(stem))];
  for (const s of stems) synonymsOf.set(s, [...new Set([...(synonymsOf.get(s) ?? []), ...stems])]);
}

/** Splits names too: "createPullRequest" / "create_pull_request" / "gitlab__get-file" → words. */
export function tokenize(text: string): string[] {
  const words = text
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 1);
  // "to-do" is also "todo", "e-mail" also "email".
  for (const joined of text.match(/\p{L}+(?:-\p{L}+)+/gu) ?? []) words.push(joined.replaceAll("-", ""));
  return words;
}

function processTerm(term: string): string | null {
  const t = term.toLowerCase();
  if (STOP.has(t) || t.length > 40) return null;
  return stem(t);
}

// ---------------------------------------------------------------------------------------------------------
// Index

type Doc = {
  id: string;
  name: string;
  title: string;
  summary: string;
  description: string;
  params: string;
  integration: string;
  instructions: string;
};

const FIELDS = ["name", "title", "summary", "description", "params", "integration", "instructions"] as const;
// A description's first sentence says what the tool does; the rest is often usage notes shared by a server's
// tools, which would otherwise match every query that uses their words.
const BOOST = {
  name: 4,
  title: 3,
  summary: 2.5,
  description: 0.6,
  params: 0.5,
  integration: 1.5,
  instructions: 0.15,
};
/** A query that names an integration ("… in GitLab") is about that integration's tools. */
const NAMED_INTEGRATION_BOOST = 3;
const NAME_COVERAGE_BOOST = 1;

export type SearchIndex = {
  search: MiniSearch<Doc>;
  tools: Map<string, SearchableTool>;
  /** each integration's name as processed terms, to tell when a query names it */
  integrations: Map<string, string[]>;
  /** each tool's own name (without its integration) as processed terms */
  nameTerms: Map<string, string[]>;
};

/** Parameter names and descriptions, one level down into nested objects and arrays of objects. */
function paramText(schema: unknown, depth = 0): string {
  const props = (schema as { properties?: Record<string, unknown> } | null)?.properties;
  if (!props || typeof props !== "object" || depth > 2) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(props)) {
    const v = value as { description?: unknown; items?: unknown } | null;
    parts.push(key);
    if (typeof v?.description === "string") parts.push(v.description.slice(0, 300));
    parts.push(paramText(v, depth + 1), paramText(v?.items, depth + 1));
  }
  return parts.filter(Boolean).join(" ");
}

export function buildSearchIndex(
  tools: readonly SearchableTool[],
  integrationText: ReadonlyMap<string, string> = new Map(),
): SearchIndex {
  const search = new MiniSearch<Doc>({
    fields: [...FIELDS],
    storeFields: [],
    tokenize,
    processTerm,
    searchOptions: { boost: BOOST, prefix: (t) => t.length >= 4, fuzzy: (t) => (t.length >= 6 ? 0.15 : 0) },
  });
  search.addAll(
    tools.map((t) => {
      const bare = bareName(t.name);
      const description = t.definition.description ?? "";
      const summary = firstSentence(description);
      return {
        id: t.name,
        name: bare,
        title: t.definition.title ?? "",
        summary,
        description: description.slice(summary.length),
        params: paramText(t.definition.inputSchema),
        integration: t.integrationName,
        instructions: integrationText.get(t.integrationId) ?? "",
      };
    }),
  );
  const integrations = new Map<string, string[]>();
  for (const t of tools) {
    if (integrations.has(t.integrationId)) continue;
    const terms = tokenize(t.integrationName)
      .map(processTerm)
      .filter((x): x is string => !!x);
    if (terms.length) integrations.set(t.integrationId, terms);
  }
  const nameTerms = new Map(
    tools.map((t) => [
      t.name,
      [
        ...new Set(
          tokenize(bareName(t.name))
            .map(processTerm)
            .filter((x): x is string => !!x),
        ),
      ],
    ]),
  );
  return { search, tools: new Map(tools.map((t) => [t.name, t])), integrations, nameTerms };
}

/** "github__create_issue" → "create_issue": the integration part is matched by its own field. */
const bareName = (name: string) => (name.includes("__") ? name.slice(name.indexOf("__") + 2) : name);

/** Up to the first sentence end (". " / "\n"), or the whole text. */
function firstSentence(text: string): string {
  const m = text.match(/^[\s\S]{12,}?(?:[.!?](?=\s)|\n)/);
  return m ? m[0] : text;
}

/** A query's terms and, weighed less, their synonyms: "remove a repo" → remove delete … repo repository …. */
function expandQuery(query: string): { text: string; asked: Set<string>; all: Set<string> } {
  const asked = new Set<string>();
  const words: string[] = [];
  for (const raw of tokenize(query)) {
    const term = processTerm(raw);
    if (!term) continue;
    asked.add(term);
    words.push(term, ...(synonymsOf.get(term) ?? []));
  }
  const all = new Set(words);
  return { text: [...all].join(" "), asked, all };
}

/** The best matches for an intent, best first. */
export function searchTools(index: SearchIndex, query: string, limit = DEFAULT_LIMIT): SearchHit[] {
  const q = expandQuery(query.slice(0, MAX_QUERY));
  if (!q.text) return [];
  const named = new Set(
    [...index.integrations].filter(([, terms]) => terms.every((t) => q.asked.has(t))).map(([id]) => id),
  );
  const weight = (term: string) => (q.asked.has(term) ? 1 : q.all.has(term) ? SYNONYM_WEIGHT : 0);
  const results = index.search.search(q.text, {
    // Terms are already processed; keep MiniSearch from stemming them twice.
    processTerm: (t) => t,
    boostTerm: (term) => (q.asked.has(term) ? 1 : SYNONYM_WEIGHT),
    boostDocument: (id: string) => {
      // A tool whose own name the request spells out ("list pipelines" → list_pipelines) ranks first.
      const terms = index.nameTerms.get(id) ?? [];
      const covered = terms.length ? terms.reduce((n, t) => n + weight(t), 0) / terms.length : 0;
      const integration = named.has(index.tools.get(id)?.integrationId ?? "") ? NAMED_INTEGRATION_BOOST : 1;
      return integration * (1 + NAME_COVERAGE_BOOST * covered);
    },
  });
  return results.slice(0, limit).map((r) => {
    const tool = index.tools.get(String(r.id))!;
    return {
      name: tool.name,
      ...(tool.definition.title ? { title: tool.definition.title } : {}),
      description: shortDescription(tool.definition.description),
      integration: tool.integrationName,
      score: Math.round(r.score * 100) / 100,
    };
  });
}

function shortDescription(text: string | undefined): string {
  const t = (text ?? "").replace(/\s+/g, " ").trim();
  const sentence = t.match(/^.{20,}?[.!?](\s|$)/)?.[0].trim() ?? t;
  return sentence.length > SHORT_DESCRIPTION ? `${sentence.slice(0, SHORT_DESCRIPTION - 1)}…` : sentence;
}

// ---------------------------------------------------------------------------------------------------------
// Per-view index cache

type Cached = { fingerprint: string; index: SearchIndex };
// An index of 1000 tools holds about 4 MB: a bounded number of views keep theirs, the rest rebuild on demand
// (about 0.1–0.3 s for 1000 tools).
const indexes = processState(
  "toolSearchIndexes",
  () => new TtlCache<string, Cached>({ ttlMs: 10 * 60_000, max: 100 }),
);
const byCatalog = new WeakMap<object, SearchIndex>();

/** What the index depends on: every definition and every integration's instructions. */
function contentFingerprint(tools: readonly SearchableTool[], text: ReadonlyMap<string, string>): string {
  const h = createHash("sha256");
  for (const t of tools)
    h.update(t.integrationName).update("\0").update(JSON.stringify(t.definition)).update("\n");
  for (const [id, s] of text) h.update(id).update("\0").update(s).update("\n");
  return h.digest("base64url");
}

/**
 * The index for a view's catalog: reused while the catalog object lives, then while its content is the same,
 * rebuilt once it moves (a sync added, changed or removed a tool; a toggle; an edited toolset).
 */
export function indexFor(
  key: string,
  catalog: { tools: readonly SearchableTool[]; integrationText: ReadonlyMap<string, string> },
): SearchIndex {
  const hit = byCatalog.get(catalog);
  if (hit) return hit;
  const fingerprint = contentFingerprint(catalog.tools, catalog.integrationText);
  let cached = indexes.get(key);
  if (cached?.fingerprint !== fingerprint) {
    cached = { fingerprint, index: buildSearchIndex(catalog.tools, catalog.integrationText) };
    indexes.set(key, cached);
  }
  byCatalog.set(catalog, cached.index);
  return cached.index;
}

// ---------------------------------------------------------------------------------------------------------
// The three tools

export const SEARCH_MODE_TOOLS: Tool[] = [
  {
    name: SEARCH_TOOL,
    title: "Search tools",
    description:
      "Find the tools for a task: describe what you want to do in plain words. Returns the best matches, best " +
      "first: name, short description and integration. Then get a tool's full definition with describe_tool " +
      "and run it with call_tool.",
    inputSchema: {
      type: "object",
      properties: {
        query: {
          type: "string",
          description: "What you want to do, e.g. 'open an issue about a failing build'",
        },
        limit: {
          type: "integer",
          minimum: 1,
          maximum: MAX_LIMIT,
          description: `How many results (default ${DEFAULT_LIMIT})`,
        },
      },
      required: ["query"],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: DESCRIBE_TOOL,
    title: "Describe a tool",
    description: "The full definition of one tool found by search_tools: description and input schema.",
    inputSchema: {
      type: "object",
      properties: { name: { type: "string", description: "The tool's name, as search_tools returned it" } },
      required: ["name"],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: CALL_TOOL,
    title: "Call a tool",
    description:
      "Run one tool found by search_tools, with arguments matching its input schema (see describe_tool). " +
      "Returns that tool's own result.",
    inputSchema: {
      type: "object",
      properties: {
        name: { type: "string", description: "The tool's name, as search_tools returned it" },
        arguments: { type: "object", description: "The tool's arguments", additionalProperties: true },
      },
      required: ["name"],
    },
  },
];

type SearchView = {
  key: string;
  catalog: {
    tools: readonly CatalogTool[];
    byName: ReadonlyMap<string, CatalogTool>;
    integrationText: ReadonlyMap<string, string>;
  };
};

/**
 * Runs one of the three tools. `callDirect` is the endpoint's own call path (validation, limits, history,
 * errors): call_tool adds nothing to it and reaches only tools of this view's catalog.
 */
export async function callSearchModeTool(
  view: SearchView,
  name: string,
  args: Record<string, unknown> | undefined,
  callDirect: (tool: CatalogTool, args: Record<string, unknown>) => Promise<CallToolResult>,
): Promise<CallToolResult | undefined> {
  const a = args ?? {};
  switch (name) {
    case SEARCH_TOOL: {
      if (typeof a.query !== "string" || !a.query.trim())
        return errorResult("`query` must be a non-empty string.");
      const limit = a.limit === undefined ? DEFAULT_LIMIT : Number(a.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        return errorResult(`\`limit\` must be an integer from 1 to ${MAX_LIMIT}.`);
      }
      const results = searchTools(indexFor(view.key, view.catalog), a.query, limit);
      const text = results.length
        ? results
            .map(
              (r, i) => `${i + 1}. ${r.name} (${r.integration})${r.description ? ` — ${r.description}` : ""}`,
            )
            .join("\n")
        : "No tool matches. Try other words.";
      return { content: [{ type: "text", text }], structuredContent: { results } };
    }
    case DESCRIBE_TOOL: {
      const tool = typeof a.name === "string" ? view.catalog.byName.get(a.name) : undefined;
      if (!tool) return errorResult(unknownTool(a.name));
      return {
        content: [{ type: "text", text: JSON.stringify(tool.definition) }],
        structuredContent: { tool: tool.definition, integration: tool.integrationName },
      };
    }
    case CALL_TOOL: {
      const tool = typeof a.name === "string" ? view.catalog.byName.get(a.name) : undefined;
      if (!tool) return errorResult(unknownTool(a.name));
      const toolArgs = a.arguments ?? {};
      if (typeof toolArgs !== "object" || toolArgs === null || Array.isArray(toolArgs)) {
        return errorResult("`arguments` must be an object.");
      }
      return callDirect(tool, toolArgs as Record<string, unknown>);
    }
    default:
      return undefined;
  }
}

const unknownTool = (name: unknown) =>
  `No tool named ${JSON.stringify(String(name ?? "")).slice(0, 130)} here. Use search_tools to find one.`;

function errorResult(text: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text }] };
}
