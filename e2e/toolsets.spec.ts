import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { countTokens } from "gpt-tokenizer";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { addIntegration, signOut, signUp, uniqueEmail } from "./helpers";

let fixture: McpFixture;
test.beforeAll(async () => {
  fixture = await startMcpServer({ name: "e2e-toolsets" });
});
test.afterAll(async () => {
  await fixture?.close();
});

async function connect(baseURL: string | undefined, path: string, token: string): Promise<Client> {
  const client = new Client(
    { name: "e2e-agent", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(path, baseURL), { authProvider: { token: async () => token } }),
  );
  return client;
}

/** The curl snippet the page offers, sent as written (headers and body), with the token filled in. */
async function sendCurlSnippet(request: APIRequestContext, snippet: string, token: string) {
  const url = /curl -sS '([^']+)'/.exec(snippet)?.[1];
  const body = /-d '(.+)'$/m.exec(snippet)?.[1];
  const headers: Record<string, string> = {};
  for (const [, h] of snippet.matchAll(/-H ["']([^"']+)["']/g)) {
    const [k, ...v] = h.split(": ");
    headers[k] = v.join(": ").replace("$POKE_TOKEN", token);
  }
  expect(url && body).toBeTruthy();
  const res = await request.post(url!, { headers, data: body! });
  const text = await res.text();
  // JSON, or one SSE event carrying it
  const json = res.headers()["content-type"]?.includes("text/event-stream")
    ? JSON.parse(
        text
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5))
          .join(""),
      )
    : JSON.parse(text);
  return { status: res.status(), json };
}

async function createToken(page: Page, name: string, toolsets: string[]): Promise<string> {
  await page.goto("/settings");
  await page.getByLabel("Token name").fill(name);
  const scope = page.getByRole("group", { name: /Only these toolsets/ }).first();
  for (const t of toolsets) await scope.getByRole("checkbox", { name: t }).check();
  await page.getByRole("button", { name: "Create token" }).click();
  const token = (await page.getByTestId("new-token").textContent())?.trim() ?? "";
  expect(token).toMatch(/^poke_/);
  return token;
}

async function noSidewaysScroll(page: Page, path: string) {
  await page.goto(path);
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  expect(scroll, `${path} scrolls sideways`).toBeLessThanOrEqual(client);
}

test("a toolset of chosen tools: preview, a token scoped to it, an MCP client, Activity", async ({
  page,
  request,
  baseURL,
}) => {
  await signUp(page, uniqueEmail("toolsets"));
  for (const name of ["Weather", "Notes"]) {
    await addIntegration(page, name, fixture.url);
    await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  }

  // Create: two tools of Weather, nothing of Notes.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Toolsets" }).click();
  await page.getByRole("link", { name: "New toolset" }).click();
  await page.getByLabel("Name").fill("weather-agent");
  await page.getByLabel("Description").fill("Sums and echoes for the weather bot.");
  const weather = page.getByRole("group", { name: "Weather" });
  await weather.getByRole("checkbox", { name: "echo", exact: true }).check();
  await weather.getByRole("checkbox", { name: "add", exact: true }).check();
  await page.getByRole("button", { name: "Create toolset" }).click();
  await expect(page.getByRole("heading", { name: "weather-agent" })).toBeVisible();
  const toolsetId = /\/toolsets\/([^/?#]+)$/.exec(page.url())?.[1] ?? "";
  expect(toolsetId).not.toBe("");
  await expect(page.getByTestId("toolset-endpoint")).toHaveText(`${baseURL}/api/mcp/weather-agent`);

  // Preview: exactly the chosen tools, and the size of that list in tokens.
  const previewNames = await page.getByTestId("preview-tool").locator("code").allTextContents();
  expect(previewNames.sort()).toEqual(["weather__add", "weather__echo"]);
  const shownTokens = Number(
    /tool list: ([\d,]+) tokens?/
      .exec((await page.getByTestId("preview-tokens").textContent()) ?? "")?.[1]
      ?.replace(/,/g, "") ?? NaN,
  );
  expect(shownTokens).toBeGreaterThan(20);

  // The list shows it with its tool count.
  await page.getByRole("link", { name: "← Toolsets" }).click();
  const card = page.getByTestId("toolset-card").filter({ hasText: "weather-agent" });
  await expect(card.getByTestId("toolset-tool-count")).toHaveText("2 tools");
  await expect(card).toContainText(`${baseURL}/api/mcp/weather-agent`);

  // A token scoped to the toolset; another with every tool.
  const scoped = await createToken(page, "weather bot", ["weather-agent"]);
  const everything = await createToken(page, "all tools", []);
  const scopedRow = page.getByTestId("token-row").filter({ hasText: "weather bot" });
  await expect(scopedRow.getByTestId("token-scope")).toContainText("weather-agent");
  await expect(
    page.getByTestId("token-row").filter({ hasText: "all tools" }).getByTestId("token-scope"),
  ).toContainText("All tools");

  // The agent: exactly the chosen tools, one call; nothing outside them.
  const agent = await connect(baseURL, "/api/mcp/weather-agent", scoped);
  const { tools } = await agent.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual(["weather__add", "weather__echo"]);
  const sum = await agent.callTool({ name: "weather__add", arguments: { a: 2, b: 3 } });
  expect(sum.structuredContent).toEqual({ sum: 5 });
  await expect(agent.callTool({ name: "notes__echo", arguments: { text: "x" } })).rejects.toThrow(
    /Unknown tool/,
  );
  await agent.close();

  // The curl snippet, sent as shown: the same list, and the preview's token count is that list's.
  await page.goto(`/toolsets/${toolsetId}`);

  // The Claude Desktop configuration, run as written (with this checkout's path): poke proxy over stdio.
  const desktop = JSON.parse((await page.getByTestId("client-config").textContent()) ?? "");
  const entry = desktop.mcpServers["poke-weather-agent"] as { command: string; args: string[] };
  const viaDesktop = new Client({ name: "desktop-like", version: "1.0.0" });
  await viaDesktop.connect(
    new StdioClientTransport({
      command: entry.command,
      args: entry.args.map((a) => a.replace("/path/to/poke-checkout", process.cwd())),
      env: { ...(process.env as Record<string, string>), API_ACCESS_TOKEN: scoped },
      stderr: "pipe",
    }),
  );
  expect((await viaDesktop.listTools()).tools.map((t) => t.name).sort()).toEqual([
    "weather__add",
    "weather__echo",
  ]);
  await viaDesktop.close();

  await page.getByRole("tab", { name: "curl" }).click();
  const snippet = (await page.getByTestId("client-config").textContent()) ?? "";
  const listed = await sendCurlSnippet(request, snippet, scoped);
  expect(listed.status, JSON.stringify(listed.json)).toBe(200);
  const wireTools = listed.json.result.tools as { name: string }[];
  expect(wireTools.map((t) => t.name).sort()).toEqual(["weather__add", "weather__echo"]);
  expect(shownTokens).toBe(countTokens(JSON.stringify({ tools: wireTools })));

  // The unscoped endpoint refuses the scoped token.
  const refused = await request.post("/api/mcp", {
    headers: { Authorization: `Bearer ${scoped}`, Accept: "application/json, text/event-stream" },
    data: { jsonrpc: "2.0", id: 1, method: "initialize", params: {} },
  });
  expect(refused.status()).toBe(403);
  expect(await refused.text()).toContain("limited to its toolsets");

  // A call through /api/mcp with the other token, so the filters have something to leave out.
  const whole = await connect(baseURL, "/api/mcp", everything);
  await whole.callTool({ name: "notes__echo", arguments: { text: "hello" } });
  await whole.close();

  // Activity: each call with its toolset and token, filtered by either.
  await page.goto("/activity");
  const rows = page.getByTestId("call-row");
  await expect(rows).toHaveCount(2);
  const viaToolset = rows.filter({ hasText: "Weather" });
  await expect(viaToolset.getByTestId("call-toolset")).toHaveText("toolset weather-agent");
  await expect(viaToolset.getByTestId("call-token")).toHaveText("token weather bot");
  const viaWhole = rows.filter({ hasText: "Notes" });
  await expect(viaWhole.getByTestId("call-toolset")).toHaveCount(0);
  await expect(viaWhole.getByTestId("call-token")).toHaveText("token all tools");

  await page.getByLabel("Toolset").selectOption({ label: "weather-agent" });
  await expect(page).toHaveURL(new RegExp(`toolset=${toolsetId}`));
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("Weather");
  await expect(rows.first()).toContainText("add");

  await page.getByLabel("Toolset").selectOption({ label: "Any toolset" });
  await page.getByLabel("Token").selectOption({ label: `all tools (${everything.slice(0, 11)}…)` });
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("Notes");

  // Editing a token's scope: the all-tools token now reaches only the toolset.
  await page.goto("/settings");
  const allRow = page.getByTestId("token-row").filter({ hasText: "all tools" });
  await allRow.getByRole("button", { name: "Edit the scope of all tools" }).click();
  await allRow
    .getByRole("form", { name: "Scope of all tools" })
    .getByRole("checkbox", { name: "weather-agent" })
    .check();
  await allRow.getByRole("button", { name: "Save scope" }).click();
  await expect(allRow.getByTestId("token-scope")).toContainText("weather-agent");
  await expect(allRow.getByTestId("token-scope")).not.toContainText("All tools");
  const nowScoped = await request.post("/api/mcp", {
    headers: { Authorization: `Bearer ${everything}`, Accept: "application/json, text/event-stream" },
    data: { jsonrpc: "2.0", id: 1, method: "initialize", params: {} },
  });
  expect(nowScoped.status()).toBe(403);

  // Phones: no page scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of [
    "/toolsets",
    "/toolsets/new",
    `/toolsets/${toolsetId}`,
    `/toolsets/${toolsetId}/edit`,
    "/settings",
    "/activity",
  ]) {
    await noSidewaysScroll(page, path);
  }

  // Edit, then delete with confirmation.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`/toolsets/${toolsetId}/edit`);
  await page.getByLabel("Read-only").check();
  await page.getByLabel("Search mode").check();
  await page.getByRole("button", { name: "Save toolset" }).click();
  await expect(page.getByRole("heading", { name: "weather-agent" })).toContainText("search mode");
  const searchNames = await page.getByTestId("preview-tool").locator("code").allTextContents();
  expect(searchNames.sort()).toEqual(["call_tool", "describe_tool", "search_tools"]);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete weather-agent" }).click();
  await expect(page).toHaveURL(/\/toolsets$/);
  await expect(page.getByTestId("toolset-card")).toHaveCount(0);
  // A token scoped to it alone is revoked with it, never left with every tool.
  const afterDelete = await request.post("/api/mcp", {
    headers: { Authorization: `Bearer ${scoped}`, Accept: "application/json, text/event-stream" },
    data: { jsonrpc: "2.0", id: 1, method: "initialize", params: {} },
  });
  expect(afterDelete.status()).toBe(401);
  await page.goto("/settings");
  await expect(page.getByTestId("token-row")).toHaveCount(0);
});

test("another person's toolset is not found", async ({ page, request }) => {
  await signUp(page, uniqueEmail("owner"));
  await page.goto("/toolsets/new");
  await page.getByLabel("Name").fill("private-set");
  await page.getByRole("button", { name: "Create toolset" }).click();
  await expect(page.getByRole("heading", { name: "private-set" })).toBeVisible();
  const url = new URL(page.url());
  await signOut(page);

  await signUp(page, uniqueEmail("other"));
  for (const path of [url.pathname, `${url.pathname}/edit`]) {
    const res = await page.goto(path);
    expect(res?.status()).toBe(404);
    await expect(page.getByText("private-set")).toHaveCount(0);
  }
  await page.goto("/toolsets");
  await expect(page.getByTestId("toolset-card")).toHaveCount(0);
  const token = await createToken(page, "other's token", []);
  const res = await request.post("/api/mcp/private-set", {
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json, text/event-stream" },
    data: { jsonrpc: "2.0", id: 1, method: "initialize", params: {} },
  });
  expect(res.status()).toBe(404);
});
