// What an agent connected to a toolset's endpoint gets, computed by the endpoint's own code (the same view,
// the same tools/list and instructions), with its size in tokens.
import "server-only";
import { countTokens } from "gpt-tokenizer";
import type { Tool } from "@modelcontextprotocol/server";
import { SEARCH_MODE_TOOLS } from "@/lib/agent/search";
import { loadView } from "@/lib/agent/toolsets";
import { env } from "@/lib/env";

export function endpointUrl(toolsetName: string): string {
  return `${env().APP_URL}/api/mcp/${encodeURIComponent(toolsetName)}`;
}

export type AgentPreview = {
  searchMode: boolean;
  /** what tools/list returns, as sent */
  tools: Tool[];
  /** the toolset's tools (behind the search tools in search mode), by exposed name */
  catalog: { name: string; title?: string; description?: string; integration: string }[];
  instructions?: string;
  /** tokens of the tools/list result (JSON, as sent) and of the instructions */
  listTokens: number;
  instructionsTokens: number;
  /** search mode: what listing every tool would have cost instead */
  fullListTokens?: number;
};

/**
 * Tokens counted with gpt-tokenizer (o200k_base, the GPT-4o/GPT-5 encoding) over the JSON the agent receives;
 * other models' tokenizers count somewhat differently.
 */
const tokensOf = (value: unknown): number =>
  countTokens(typeof value === "string" ? value : JSON.stringify(value));

/** The toolset's agent view; the caller has checked the toolset is the user's (else the view is empty). */
export async function previewToolset(user: { id: string }, toolsetId: string): Promise<AgentPreview> {
  const view = await loadView({ key: `t:${toolsetId}`, userId: user.id, toolsetId, searchMode: false });
  const all = view.tools.map((t) => t.definition);
  const tools = view.searchMode ? SEARCH_MODE_TOOLS : all;
  const listTokens = tokensOf({ tools });
  return {
    searchMode: view.searchMode,
    tools,
    catalog: view.tools.map((t) => ({
      name: t.name,
      title: t.definition.title,
      description: t.definition.description,
      integration: t.integrationName,
    })),
    instructions: view.instructions,
    listTokens,
    instructionsTokens: view.instructions ? tokensOf(view.instructions) : 0,
    ...(view.searchMode ? { fullListTokens: tokensOf({ tools: all }) } : {}),
  };
}

/** How many tools each toolset exposes now (for the list page); a toolset deleted meanwhile is left out. */
export async function countToolsetTools(user: { id: string }, toolsetIds: string[]) {
  const views = await Promise.allSettled(
    toolsetIds.map((toolsetId) =>
      loadView({ key: `t:${toolsetId}`, userId: user.id, toolsetId, searchMode: false }),
    ),
  );
  const counts = new Map<string, number>();
  views.forEach((v, n) => v.status === "fulfilled" && counts.set(toolsetIds[n], v.value.tools.length));
  return counts;
}
