// Tool search (search mode) on a catalog of real servers' own tool definitions (bench/fixtures/
// toolsearch-catalog.json, listed from published MCP servers by bench/toolsearch-catalog.ts):
//   1. context size: tokens an agent receives up front (instructions + tools/list) in normal vs search mode;
//   2. retrieval: queries phrased the way a person asks an agent (bench/fixtures/toolsearch-queries.json),
//      each labelled with the one right tool: recall@1/@5 and the median rank;
//   3. latency of one search over 1000 tools (the catalog's tools, repeated under other integration names).
// Everything runs the product's own code: the catalog's naming, the merged instructions, the search index.
//   npx tsx bench/toolsearch.ts        (or `npm run bench -- --only toolsearch`)
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { countTokens } from "gpt-tokenizer";
import type { Tool } from "@modelcontextprotocol/server";
import { exposedName, mergeInstructions, SEPARATOR, slugify, type CatalogTool } from "@/lib/agent/catalog";
import { buildSearchIndex, SEARCH_MODE_TOOLS, searchTools } from "@/lib/agent/search";
import { searchInstructions } from "@/lib/agent/toolsets";
import { fmt, median, percentile, ROOT } from "./lib";

export const toolSearchTargets = { reduction: 0.9, recallAt5: 0.9, queries: 100 };

type FixtureServer = { package: string; version: string; instructions: string | null; tools: Tool[] };
type Query = { query: string; tool: string };

/** What a person names each server's integration (what tool names are prefixed with). */
const INTEGRATION_NAMES: Record<string, string> = {
  "@modelcontextprotocol/server-everything": "Everything",
  "@modelcontextprotocol/server-filesystem": "Filesystem",
  "@modelcontextprotocol/server-memory": "Memory",
  "@modelcontextprotocol/server-github": "GitHub",
  "@modelcontextprotocol/server-slack": "Slack",
  "@modelcontextprotocol/server-google-maps": "Google Maps",
  "@modelcontextprotocol/server-brave-search": "Brave Search",
  "@modelcontextprotocol/server-sequential-thinking": "Sequential Thinking",
  "@notionhq/notion-mcp-server": "Notion",
  "@zereight/mcp-gitlab": "GitLab",
  "@playwright/mcp": "Playwright",
  "chrome-devtools-mcp": "Chrome DevTools",
};

type Catalog = { tools: CatalogTool[]; integrationText: Map<string, string>; sections: string[] };

/** The catalog as the agent endpoint would expose it: `<integration>__<tool>` names, merged instructions. */
export function loadFixtureCatalog(copies = 1): Catalog {
  const file = path.join(ROOT, "bench/fixtures/toolsearch-catalog.json");
  const { servers } = JSON.parse(fs.readFileSync(file, "utf8")) as { servers: FixtureServer[] };
  const tools: CatalogTool[] = [];
  const integrationText = new Map<string, string>();
  const sections: string[] = [];
  for (let copy = 1; copy <= copies; copy++) {
    for (const server of servers) {
      const base = INTEGRATION_NAMES[server.package] ?? server.package;
      const integrationName = copy === 1 ? base : `${base} ${copy}`;
      const integrationId = `${server.package}#${copy}`;
      const slug = slugify(integrationName);
      const taken = new Set<string>();
      for (const t of server.tools) {
        const name = exposedName(slug, t.name, taken);
        tools.push({
          name,
          integrationId,
          integrationName,
          status: "connected",
          toolName: t.name,
          definition: { ...t, name },
        });
      }
      const text = server.instructions?.trim();
      if (text) {
        const section = `## ${integrationName} (tools named ${slug}${SEPARATOR}*)\n\n${text}`;
        sections.push(section);
        integrationText.set(integrationId, section);
      }
    }
  }
  return { tools, integrationText, sections };
}

export function loadQueries(name = "toolsearch-queries.json"): Query[] {
  const file = path.join(ROOT, "bench/fixtures", name);
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { queries: Query[] }).queries;
}

type Retrieval = {
  queries: number;
  recallAt1: number;
  recallAt5: number;
  medianRank: number;
  misses: (Query & { rank: number | null; top: string[] })[];
};

function retrieval(
  index: ReturnType<typeof buildSearchIndex>,
  queries: Query[],
  known: Set<string>,
): Retrieval {
  const ranks: (number | null)[] = [];
  const misses: Retrieval["misses"] = [];
  for (const q of queries) {
    if (!known.has(q.tool)) throw new Error(`query labelled with an unknown tool: ${q.tool}`);
    const hits = searchTools(index, q.query, 20);
    const at = hits.findIndex((h) => h.name === q.tool);
    const rank = at < 0 ? null : at + 1;
    ranks.push(rank);
    if (rank === null || rank > 5) misses.push({ ...q, rank, top: hits.slice(0, 5).map((h) => h.name) });
  }
  const within = (k: number) => ranks.filter((r) => r !== null && r <= k).length / ranks.length;
  // A miss ranks after every listed result.
  return {
    queries: queries.length,
    recallAt1: within(1),
    recallAt5: within(5),
    medianRank: median(ranks.map((r) => r ?? 21)),
    misses,
  };
}

export type ToolSearchResult = {
  servers: number;
  tools: number;
  tokens: { normal: number; search: number; reduction: number; searchRoundTrip: number };
  retrieval: Retrieval;
  /** queries written after the ranking was tuned, never tuned on */
  heldOut: Retrieval;
  latency: { tools: number; searches: number; p50: number; p99: number; buildMs: number };
};

export function benchToolSearch(): ToolSearchResult {
  const catalog = loadFixtureCatalog();
  const merged = mergeInstructions(catalog.sections);

  // 1. What the agent receives before its first word: the instructions and the whole tools/list result.
  const normalPayload = JSON.stringify({
    instructions: merged,
    tools: catalog.tools.map((t) => t.definition),
  });
  const searchPayload = JSON.stringify({
    instructions: searchInstructions(undefined, merged),
    tools: SEARCH_MODE_TOOLS,
  });
  const normal = countTokens(normalPayload);
  const search = countTokens(searchPayload);

  // 2. Retrieval.
  const index = buildSearchIndex(catalog.tools, catalog.integrationText);
  const queries = loadQueries();
  const known = new Set(catalog.tools.map((t) => t.name));
  const main = retrieval(index, queries, known);
  const heldOut = retrieval(index, loadQueries("toolsearch-heldout.json"), known);
  let roundTrip = 0;
  for (const q of queries) roundTrip += countTokens(JSON.stringify(searchTools(index, q.query)));

  // 3. Latency with 1000 tools.
  const big = loadFixtureCatalog(3);
  big.tools.splice(1000);
  const t0 = performance.now();
  const bigIndex = buildSearchIndex(big.tools, big.integrationText);
  const buildMs = performance.now() - t0;
  for (let i = 0; i < 200; i++) searchTools(bigIndex, queries[i % queries.length].query); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const s = performance.now();
    searchTools(bigIndex, queries[i % queries.length].query);
    samples.push(performance.now() - s);
  }

  return {
    servers: new Set(catalog.tools.map((t) => t.integrationId)).size,
    tools: catalog.tools.length,
    tokens: { normal, search, reduction: 1 - search / normal, searchRoundTrip: roundTrip / queries.length },
    retrieval: main,
    heldOut,
    latency: {
      tools: big.tools.length,
      searches: samples.length,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      buildMs,
    },
  };
}

export type ToolSearchRow = {
  benchmark: string;
  baseline: string;
  result: string;
  target: string;
  ok: boolean | null;
};

export function toolSearchRows(r: ToolSearchResult): ToolSearchRow[] {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return [
    {
      benchmark: `context up front, ${r.tools} tools of ${r.servers} servers (tokens, o200k)`,
      baseline: `normal mode ${r.tokens.normal}`,
      result: `search mode ${r.tokens.search} (${pct(r.tokens.reduction)} smaller)`,
      target: `≥ ${toolSearchTargets.reduction * 100}% smaller`,
      ok: r.tokens.reduction >= toolSearchTargets.reduction,
    },
    {
      benchmark: `retrieval, ${r.retrieval.queries} queries a person would ask`,
      baseline: `recall@1 ${r.retrieval.recallAt1.toFixed(2)}`,
      result: `recall@5 ${r.retrieval.recallAt5.toFixed(2)}, median rank ${r.retrieval.medianRank}`,
      target: `recall@5 ≥ ${toolSearchTargets.recallAt5}`,
      ok:
        r.retrieval.recallAt5 >= toolSearchTargets.recallAt5 &&
        r.retrieval.queries >= toolSearchTargets.queries,
    },
    {
      benchmark: `retrieval, ${r.heldOut.queries} held-out queries (never tuned on)`,
      baseline: `recall@1 ${r.heldOut.recallAt1.toFixed(2)}`,
      result: `recall@5 ${r.heldOut.recallAt5.toFixed(2)}, median rank ${r.heldOut.medianRank}`,
      target: "(informational)",
      ok: null,
    },
    {
      benchmark: `one search, ${r.latency.tools} tools (${r.latency.searches} searches)`,
      baseline: `index build ${fmt(r.latency.buildMs, 1)} ms`,
      result: `p50 ${fmt(r.latency.p50, 3)} ms, p99 ${fmt(r.latency.p99, 3)} ms`,
      target: "(informational)",
      ok: null,
    },
  ];
}

export function describeToolSearch(r: ToolSearchResult): string[] {
  return [
    `${r.tools} tools from ${r.servers} servers; a search answer (8 results) averages ${Math.round(r.tokens.searchRoundTrip)} tokens`,
    ...toolSearchRows(r).map((row) => `${row.benchmark}: ${row.baseline} → ${row.result} (${row.target})`),
    ...[...r.retrieval.misses, ...r.heldOut.misses].map(
      (m) =>
        `  outside the top 5: "${m.query}" → ${m.tool} (rank ${m.rank ?? "none"}; top: ${m.top.join(", ")})`,
    ),
  ];
}

const START = "<!-- toolsearch:start -->";
const END = "<!-- toolsearch:end -->";

/** Rewrites the tool-search results section of bench/README.md (its own, beside the main results). */
export function writeToolSearchSection(r: ToolSearchResult, notes: string[]): void {
  const file = path.join(ROOT, "bench/README.md");
  const text = fs.readFileSync(file, "utf8");
  const rows = toolSearchRows(r);
  const lines = [
    "| benchmark | baseline | result | target | |",
    "|---|---|---|---|---|",
    ...rows.map(
      (x) =>
        `| ${x.benchmark} | ${x.baseline} | ${x.result} | ${x.target} | ${x.ok === null ? "" : x.ok ? "met" : "**missed**"} |`,
    ),
    "",
    ...notes.map((n) => `- ${n}`),
    ...[
      ["", r.retrieval],
      ["held-out ", r.heldOut],
    ].flatMap(([label, set]) =>
      typeof set === "string" || !set.misses.length
        ? []
        : [
            `- ${label === "" ? "Queries" : "Held-out queries"} whose tool ranked outside the top 5 (${set.misses.length}):`,
            ...set.misses.map((m) => `  - "${m.query}" → \`${m.tool}\` (rank ${m.rank ?? "> 20"})`),
          ],
    ),
  ];
  const section = `${START}\n${lines.join("\n")}\n${END}`;
  if (!text.includes(START)) throw new Error(`bench/README.md has no ${START} section`);
  fs.writeFileSync(file, text.replace(new RegExp(`${START}[\\s\\S]*?${END}`), section));
  // The repository's format check covers this file: align the generated table the way Prettier does.
  spawnSync(path.join(ROOT, "node_modules/.bin/prettier"), ["--write", file], { stdio: "ignore" });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const r = benchToolSearch();
  describeToolSearch(r).forEach((l) => console.log(l));
}
