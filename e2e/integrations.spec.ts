import { expect, test } from "@playwright/test";
import { startMcpServer, startSseServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { addIntegration, alertOf, createApiToken, signUp, uniqueEmail } from "./helpers";

let modern: McpFixture;
let keyed: McpFixture;

test.beforeAll(async () => {
  modern = await startMcpServer({
    instructions: "Use echo to repeat text. Prefer add for sums.",
    title: "Fixture Server",
  });
  keyed = await startMcpServer({ apiKey: "sekret-key-123", mode: "sessionful" });
});
test.afterAll(async () => {
  await modern?.close();
  await keyed?.close();
});

test("add a server, see its metadata, instructions and tools, and use the playground", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await addIntegration(page, "Fixture", modern.url);
  await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await page.getByRole("link", { name: "Open Fixture" }).click();

  await expect(page.getByTestId("integration-status")).toHaveText("connected");
  await expect(page.getByTestId("server-instructions")).toHaveText(
    "Use echo to repeat text. Prefer add for sums.",
  );
  const meta = page.getByTestId("server-metadata");
  await expect(meta).toContainText("2026-07-28");
  await expect(meta).toContainText("streamable-http");
  await expect(meta).toContainText("Fixture Server");
  await expect(page.getByTestId("tool-item").filter({ hasText: "echo" }).first()).toBeVisible();

  // Schema-driven form → call → structured result with latency, in the playground view.
  await page.getByRole("link", { name: "Playground", exact: true }).click();
  await page.getByLabel("Tool", { exact: true }).selectOption("add");
  await page.getByLabel("a", { exact: true }).fill("2");
  await page.getByLabel("b", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Call add" }).click();
  const result = page.getByTestId("tool-result");
  await expect(result).toContainText('"sum": 5');
  await expect(page.getByTestId("tool-latency")).toHaveText(/\d+ ms/);

  // Images render from validated data; isError results are marked.
  await page.getByLabel("Tool", { exact: true }).selectOption("image");
  await page.getByRole("button", { name: "Call image" }).click();
  await expect(result.getByAltText("Image returned by the tool", { exact: true })).toBeVisible();
  await page.getByLabel("Tool", { exact: true }).selectOption("fail");
  await page.getByRole("button", { name: "Call fail" }).click();
  await expect(result).toContainText("tool error");

  // Arguments are validated against the schema before anything is sent.
  const before = modern.calls.length;
  await page.getByLabel("Tool", { exact: true }).selectOption("form");
  await page.getByRole("button", { name: "Call form" }).click();
  await expect(alertOf(page)).toContainText("Invalid arguments");
  expect(modern.calls.length).toBe(before);
  await page.getByLabel("color").selectOption("green");
  await page.getByLabel("street").fill("1 Main St");
  await page.getByLabel("city").fill("Springfield");
  await page.getByRole("button", { name: "Add item to tags" }).click();
  await page.getByLabel("tags[0]").fill("urgent");
  await page.getByRole("button", { name: "Call form" }).click();
  await expect(result).toContainText('"color": "green"');
  await expect(result).toContainText('"urgent"');

  // Raw JSON editor as fallback.
  await page.getByLabel("Tool", { exact: true }).selectOption("echo");
  await page.getByRole("button", { name: "Raw JSON" }).click();
  await page.getByLabel("Arguments (JSON)").fill('{"text": "hello <b>world</b>"}');
  await page.getByRole("button", { name: "Call echo" }).click();
  await expect(result).toContainText("hello <b>world</b>"); // rendered as text, not HTML
});

test("re-sync shows what changed; disabled tools can't be called", async ({ page }) => {
  await signUp(page, uniqueEmail());
  const server = await startMcpServer({ mode: "sessionful" });
  try {
    await addIntegration(page, "Changing", server.url);
    await page.getByRole("link", { name: "Open Changing" }).click();
    server.addTool("brand_new");
    server.removeTool("big");
    server.setDescription("echo", "Echoes, now with a new description");
    await page.getByRole("button", { name: "Re-sync" }).click();
    await expect(page.getByTestId("sync-summary")).toContainText("1 added: brand_new");
    await expect(page.getByTestId("sync-summary")).toContainText("1 removed: big");
    await expect(page.getByTestId("sync-summary")).toContainText("1 changed: echo");
    await expect(page.getByTestId("tool-item").filter({ hasText: "brand_new" })).toBeVisible();
    await expect(page.getByTestId("tool-item").filter({ hasText: "Echoes, now with" })).toContainText(
      "changed",
    );

    await page.getByLabel("Enable whoami").click();
    await expect(page.getByLabel("Enable whoami")).not.toBeChecked();
    await page.reload();
    await expect(page.getByLabel("Enable whoami")).not.toBeChecked();
    await page.getByRole("link", { name: "Playground", exact: true }).click();
    await expect(page.getByLabel("Tool", { exact: true })).toBeVisible();
    await expect(
      page.getByLabel("Tool", { exact: true }).locator("option", { hasText: "whoami" }),
    ).toHaveCount(0);
  } finally {
    await server.close();
  }
});

test("API key servers: a clear error without the key, connected after adding it", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await addIntegration(page, "Keyed", keyed.url);
  await expect(alertOf(page)).toContainText("401");
  await page.getByRole("link", { name: "Open Keyed" }).click();
  await expect(page.getByTestId("integration-status")).toHaveText("error");
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("API key").fill("sekret-key-123");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("integration-status")).toHaveText("connected");
  // The key is write-only: never shown again.
  expect(await page.content()).not.toContain("sekret-key-123");
  const seen = keyed.requests.filter((r) => r.headers.authorization === "Bearer sekret-key-123");
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.every((r) => r.headers["x-poke-user-id"])).toBe(true);
});

test("legacy SSE servers work through the fallback; deleting removes the integration", async ({ page }) => {
  const sse = await startSseServer({});
  try {
    await signUp(page, uniqueEmail());
    await addIntegration(page, "Legacy", sse.url);
    await page.getByRole("link", { name: "Open Legacy" }).click();
    await expect(page.getByTestId("server-metadata")).toContainText("sse");
    await expect(page.getByTestId("integration-status")).toHaveText("connected");

    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Delete" }).click();
    await expect(page).toHaveURL(/\/integrations$/);
    await expect(page.getByTestId("integration-card")).toHaveCount(0);
  } finally {
    await sse.close();
  }
});

test("the Doctor shows which step fails and what to do", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await addIntegration(page, "Nowhere", "http://127.0.0.1:9/mcp");
  await expect(alertOf(page)).toContainText("connecting failed");
  await page.getByRole("link", { name: "Open Nowhere" }).click();
  await page.getByRole("button", { name: "Run Doctor" }).click();
  await expect(page.getByTestId("doctor-url")).toContainText("ok");
  await expect(page.getByTestId("doctor-transport")).toContainText("fail");
  await expect(page.getByTestId("doctor-transport")).toContainText("What to do");
  await expect(page.getByTestId("doctor-tools")).toContainText("skip");
});

test("bad URLs are refused with a clear message", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await addIntegration(page, "Bad", "ftp://example.com/mcp");
  await expect(alertOf(page)).toContainText(/http/i);
  await addIntegration(page, "Userinfo", "https://user:pass@example.com/mcp");
  await expect(alertOf(page)).toBeVisible();
  await page.goto("/integrations");
  await expect(page.getByTestId("integration-card")).toHaveCount(0);
});

test("another user's integration is not found, in pages and in the API", async ({ browser }) => {
  const a = await (await browser.newContext()).newPage();
  await signUp(a, uniqueEmail("alice"));
  await addIntegration(a, "Private", modern.url);
  await a.getByRole("link", { name: "Open Private" }).click();
  await expect(a).toHaveURL(/\/integrations\/[\w-]+$/);
  const url = a.url();
  const id = url.split("/").pop()!;
  const tokenA = await createApiToken(a, "alice");

  const b = await (await browser.newContext()).newPage();
  await signUp(b, uniqueEmail("bob"));
  const tokenB = await createApiToken(b, "bob");
  expect((await b.goto(url))?.status()).toBe(404);

  const requestsBefore = modern.requests.length;
  const api = b.request;
  const h = { Authorization: `Bearer ${tokenB}` };
  expect((await api.get(`/api/v1/integrations/${id}`, { headers: h })).status()).toBe(404);
  expect((await api.get(`/api/v1/integrations/${id}/tools`, { headers: h })).status()).toBe(404);
  expect((await api.post(`/api/v1/integrations/${id}/sync`, { headers: h })).status()).toBe(404);
  expect(
    (
      await api.post(`/api/v1/integrations/${id}/tools/echo/call`, {
        headers: h,
        data: { arguments: { text: "x" } },
      })
    ).status(),
  ).toBe(404);
  expect((await api.delete(`/api/v1/integrations/${id}`, { headers: h })).status()).toBe(404);
  expect(modern.requests.length).toBe(requestsBefore); // no outbound request for a foreign id
  const listB = await (await api.get("/api/v1/integrations", { headers: h })).json();
  expect(listB.integrations).toEqual([]);

  // The owner can use the same routes.
  const ha = { Authorization: `Bearer ${tokenA}` };
  const call = await api.post(`/api/v1/integrations/${id}/tools/echo/call`, {
    headers: ha,
    data: { arguments: { text: "hi" } },
  });
  expect(call.status()).toBe(200);
  expect((await call.json()).result.content[0].text).toBe("hi");
  const sync = await (await api.post(`/api/v1/integrations/${id}/sync`, { headers: ha })).json();
  expect(sync.toolCount).toBeGreaterThan(5);
});
