// Search-mode ranking over real servers' tool definitions (the benchmark's fixture, listed from published MCP
// servers): what the text processing does, which tool a plainly worded request finds, and that the index
// follows its catalog's content.
import { describe, expect, it } from "vitest";
import { loadFixtureCatalog } from "@/bench/toolsearch";
import {
  buildSearchIndex,
  indexFor,
  searchTools,
  stem,
  tokenize,
  type SearchableTool,
} from "@/lib/agent/search";

const catalog = loadFixtureCatalog();
const index = buildSearchIndex(catalog.tools, catalog.integrationText);
const top = (query: string, n = 5) => searchTools(index, query, n).map((h) => h.name);

describe("text processing", () => {
  it("splits names the ways servers write them", () => {
    expect(tokenize("createPullRequest")).toEqual(["create", "Pull", "Request"]);
    expect(tokenize("get_merge_request-diffs")).toEqual(["get", "merge", "request", "diffs", "requestdiffs"]);
    expect(tokenize("API-post-page")).toEqual(["API", "post", "page", "APIpostpage"]);
    expect(tokenize("my to-do list")).toEqual(["my", "to", "do", "list", "todo"]);
  });

  it("brings word forms together", () => {
    const forms = ["create", "creates", "created", "creating"].map(stem);
    expect(new Set(forms).size).toBe(1);
    expect(stem("repositories")).toBe("repository");
    expect(stem("logged")).toBe(stem("log"));
    expect(stem("address")).toBe("address");
  });
});

describe("ranking", () => {
  it("finds the tool a person means, with the integration they name", () => {
    expect(top("open a pull request on GitHub from my branch", 1)).toEqual(["github__create_pull_request"]);
    expect(top("open a merge request in GitLab", 1)).toEqual(["gitlab__create_merge_request"]);
    // The same request against two servers with the same tool: the one named wins.
    expect(top("create an issue in GitLab", 1)).toEqual(["gitlab__create_issue"]);
    expect(top("create an issue in GitHub", 1)).toEqual(["github__create_issue"]);
  });

  it("matches everyday words for what tools call otherwise", () => {
    expect(top("remove the stale branch in GitLab", 3)).toContain("gitlab__delete_branch");
    expect(top("post a message in the Slack channel", 3)).toContain("slack__slack_post_message");
    expect(top("take a picture of the page in Playwright", 3)).toContain(
      "playwright__browser_take_screenshot",
    );
  });

  it("returns short entries: name, integration, a one-sentence description", () => {
    const [hit] = searchTools(index, "list the files in a folder", 1);
    expect(hit).toMatchObject({ name: expect.any(String), integration: expect.any(String) });
    expect(hit.description.length).toBeLessThanOrEqual(160);
    expect(hit.description).not.toContain("\n");
  });

  it("answers nothing for a request with no searchable word, and caps the count", () => {
    expect(searchTools(index, "the of and to", 5)).toEqual([]);
    expect(searchTools(index, "", 5)).toEqual([]);
    expect(searchTools(index, "list", 20)).toHaveLength(20);
  });

  it("only ever returns tools of the catalog it was built from", () => {
    const slack = catalog.tools.filter((t) => t.integrationName === "Slack");
    const small = buildSearchIndex(slack);
    const hits = searchTools(small, "create a GitHub pull request", 20);
    expect(hits.every((h) => h.name.startsWith("slack__"))).toBe(true);
  });
});

describe("the cached index", () => {
  it("is reused while the content is the same and rebuilt when a definition changes", () => {
    const tools: SearchableTool[] = catalog.tools.filter((t) => t.integrationName === "Memory");
    const text = new Map<string, string>();
    const first = indexFor("test:memory", { tools, integrationText: text });
    // A new catalog object with the same content (what the endpoint's short catalog cache produces).
    expect(indexFor("test:memory", { tools: [...tools], integrationText: new Map(text) })).toBe(first);
    expect(searchTools(first, "vacuum the sitemap")).toEqual([]);
    const changed = tools.map((t) =>
      t.definition.name.endsWith("read_graph")
        ? { ...t, definition: { ...t.definition, description: "Vacuum the sitemap of the knowledge graph." } }
        : t,
    );
    const rebuilt = indexFor("test:memory", { tools: changed, integrationText: text });
    expect(rebuilt).not.toBe(first);
    expect(searchTools(rebuilt, "vacuum the sitemap", 1).map((h) => h.name)).toEqual(["memory__read_graph"]);
  });
});
