import { expect, test } from "@playwright/test";
import { startHostileServer, type HostileFixture } from "../test/fixtures/mcp-servers";
import { addIntegration, alertOf, signUp, uniqueEmail } from "./helpers";

// A server whose "nested" tool answers a value nested 100 000 levels deep (docs/security.md §14).
let deep: HostileFixture;

test.beforeAll(async () => {
  deep = await startHostileServer("deep-nesting");
});
test.afterAll(async () => {
  await deep?.close();
});

test("the playground shows a too-deep result as an error and keeps working", async ({ page }) => {
  await signUp(page, uniqueEmail("deep"));
  await addIntegration(page, "Deep", deep.url);
  await page.getByRole("link", { name: "Open Deep" }).click();
  await expect(page.getByTestId("integration-status")).toHaveText("connected");
  // the tool whose schema is nested too deep is left out, and the page says so
  await expect(page.getByTestId("sync-notice")).toContainText('"deep_schema"');
  await page.getByRole("link", { name: "Playground", exact: true }).click();

  await page.getByLabel("Tool", { exact: true }).selectOption("nested");
  await page.getByRole("button", { name: "Call nested" }).click();
  await expect(alertOf(page)).toContainText("nested more than 64 levels deep");

  await page.getByLabel("levels", { exact: true }).fill("63");
  await page.getByRole("button", { name: "Call nested" }).click();
  await expect(page.getByTestId("tool-result")).toContainText('"v": 0');

  await page.getByLabel("Tool", { exact: true }).selectOption("echo");
  await page.getByLabel("text", { exact: true }).fill("still answering");
  await page.getByRole("button", { name: "Call echo" }).click();
  await expect(page.getByTestId("tool-result")).toContainText("still answering");
});
