// The Re-sync button on a server that only removed a tool: the page says what was removed, and the tool is gone.
import { expect, test } from "@playwright/test";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { basicTools } from "../test/fixtures/tools";
import { addIntegration, signUp, uniqueEmail } from "./helpers";

let server: McpFixture;

test.beforeAll(async () => {
  server = await startMcpServer({ mode: "sessionful" });
});
test.afterAll(async () => {
  await server?.close();
});

test("Re-sync after the server dropped a tool shows the removal, and the tool leaves the page", async ({
  page,
}) => {
  await signUp(page, uniqueEmail());
  await addIntegration(page, "Shrinking", server.url);
  await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await page.getByRole("link", { name: "Open Shrinking" }).click();
  await expect(page.getByTestId("integration-status")).toHaveText("connected");
  const tools = page.getByTestId("tool-item");
  const count = basicTools().length;
  await expect(tools).toHaveCount(count);
  await expect(page.getByLabel("Enable big")).toBeVisible();

  server.removeTool("big");
  await page.getByRole("button", { name: "Re-sync" }).click();
  const summary = page.getByTestId("sync-summary");
  await expect(summary).toHaveText(`${count - 1} tools. 0 added; 1 removed: big; 0 changed.`);
  await expect(page.getByLabel("Enable big")).toHaveCount(0);
  await expect(tools).toHaveCount(count - 1);
  await expect(page.getByTestId("integration-status")).toHaveText("connected");

  // Still gone after a reload: the removal was stored, not only shown.
  await page.reload();
  await expect(tools).toHaveCount(count - 1);
  await expect(page.getByLabel("Enable big")).toHaveCount(0);
});
