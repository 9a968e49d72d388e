import { expect, test } from "@playwright/test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { createApiToken, signUp, uniqueEmail } from "./helpers";

let fixture: McpFixture;
test.beforeAll(async () => {
  fixture = await startMcpServer({ name: "e2e-activity" });
});
test.afterAll(async () => {
  await fixture?.close();
});

test("calls from the API and the agent endpoint appear on Activity, with working filters", async ({
  page,
  request,
  baseURL,
}) => {
  await signUp(page, uniqueEmail("activity"));
  const token = await createApiToken(page, "activity e2e");
  const auth = { Authorization: `Bearer ${token}` };

  const ids: Record<string, string> = {};
  for (const name of ["Weather", "Notes"]) {
    const res = await request.post("/api/v1/integrations", {
      headers: auth,
      data: { name, url: fixture.url },
    });
    expect(res.status()).toBe(201);
    const body = await res.json();
    expect(body.integration.status).toBe("connected");
    ids[name] = body.integration.id;
  }
  const callApi = async (name: string, tool: string, args: Record<string, unknown>) => {
    const res = await request.post(`/api/v1/integrations/${ids[name]}/tools/${tool}/call`, {
      headers: auth,
      data: { arguments: args },
    });
    expect(res.status()).toBe(200);
    return res.json();
  };
  await callApi("Weather", "echo", { text: "sunny" });
  await callApi("Weather", "add", { a: 1, b: 2 });
  expect((await callApi("Weather", "fail", {})).result.isError).toBe(true);
  await callApi("Notes", "echo", { text: "note" });

  // an agent through the real /api/mcp route of the built app
  const client = new Client(
    { name: "e2e-agent", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL("/api/mcp", baseURL), {
      authProvider: { token: async () => token },
    }),
  );
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["weather__echo", "notes__echo"]));
  const viaAgent = await client.callTool({ name: "notes__add", arguments: { a: 2, b: 2 } });
  expect(viaAgent.structuredContent).toEqual({ sum: 4 });
  await client.close();

  await page.goto("/activity");
  const rows = page.getByTestId("call-row");
  await expect(rows).toHaveCount(5);
  await expect(rows.first()).toContainText("Notes");
  await expect(rows.first()).toContainText("add");
  await expect(rows.first()).toContainText("agent");
  await expect(rows.filter({ hasText: "fail" })).toContainText("tool error");

  await page.getByLabel("Integration").selectOption({ label: "Notes" });
  await expect(page).toHaveURL(new RegExp(`integration=${ids.Notes}`));
  await expect(rows).toHaveCount(2);
  for (const row of await rows.all()) await expect(row).toContainText("Notes");

  await page.getByLabel("Integration").selectOption({ label: "All integrations" });
  await page.getByLabel("Status").selectOption({ label: "tool error" });
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("fail");

  await page.getByRole("link", { name: "Clear" }).click();
  await expect(page).toHaveURL(/\/activity$/);
  await expect(rows).toHaveCount(5);
  await page.getByLabel("Source").selectOption("agent");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("Notes");

  // health: Weather had 2 ok of 3 answered calls, and its server's circuit is closed
  const weather = page.getByTestId("health-row").filter({ hasText: "Weather" });
  await expect(weather.getByTestId("health-success")).toHaveText("66.7%");
  await expect(weather.getByTestId("breaker-state")).toContainText("closed");

  // turning payload storage on keeps the next call's arguments
  await weather.getByLabel("Store arguments and results of Weather").check();
  await expect(weather.getByLabel("Store arguments and results of Weather")).toBeEnabled(); // saved
  await page.reload();
  await expect(weather.getByLabel("Store arguments and results of Weather")).toBeChecked();
  await callApi("Weather", "echo", { text: "kept for later" });
  await page.goto(`/activity?integration=${ids.Weather}`);
  // a row opens its call: the stored arguments and result, and a way to run it again
  await rows.first().getByRole("button", { name: "echo" }).click();
  const details = page.getByTestId("call-details");
  await expect(details).toContainText("kept for later");
  const rerun = details.getByRole("link", { name: "Run again in the playground" });
  const href = new URL((await rerun.getAttribute("href")) ?? "", "http://x");
  expect(href.pathname).toBe(`/integrations/${ids.Weather}/playground`);
  expect(href.searchParams.get("tool")).toBe("echo");
  expect(JSON.parse(href.searchParams.get("args") ?? "null")).toEqual({ text: "kept for later" });
  // an older call, made before payloads were stored, says so
  await rows.nth(1).getByRole("button").click();
  await expect(details).toHaveCount(1);
  await expect(details).toContainText("not stored");
});

test("another user's activity stays private", async ({ page }) => {
  await signUp(page, uniqueEmail("activity-other"));
  await page.goto("/activity");
  await expect(page.getByTestId("call-row")).toHaveCount(0);
  await expect(page.getByText("No tool calls yet.")).toBeVisible();
});
