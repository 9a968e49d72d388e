// Resources, resource templates and prompts on the integration page, against server-everything: list, read,
// fill a template, get a prompt; errors shown; another person gets a 404; no sideways scroll on a phone.
import { expect, test, type Page } from "@playwright/test";
import { startEverything, type Everything } from "../test/fixtures/everything";
import { addIntegration, signUp, uniqueEmail } from "./helpers";

let everything: Everything;
let everythingUrl: string;

test.beforeAll(async () => {
  everything = await startEverything();
  everythingUrl = everything.url;
});
test.afterAll(() => {
  everything?.close();
});

async function openEverything(page: Page): Promise<string> {
  await addIntegration(page, "Everything", everythingUrl);
  await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await page.getByRole("link", { name: "Open Everything" }).click();
  await expect(page).toHaveURL(/\/integrations\/[\w-]+$/);
  await expect(page.getByTestId("integration-status")).toHaveText("connected");
  return page.url();
}

async function noSidewaysScroll(page: Page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
}

test("list and read resources, fill a template, get a prompt; another person gets a 404", async ({
  page,
  browser,
}) => {
  await signUp(page, uniqueEmail("res"));
  const integrationUrl = await openEverything(page);

  // Listed with counts in the card titles.
  await expect(page.getByTestId("resources-title")).toHaveText(/^Resources \([1-9]\d*\)$/);
  await expect(page.getByTestId("templates-title")).toHaveText("Resource templates (2)");
  await expect(page.getByTestId("prompts-title")).toHaveText(/^Prompts \([1-9]\d*\)$/);
  const features = page.getByTestId("resource-item").filter({ hasText: "features.md" });
  await expect(features).toContainText("demo://resource/static/document/features.md");
  await expect(features).toContainText("text/markdown");

  // Read a resource: its text shown inline, as text.
  await features.getByRole("button", { name: "Read features.md" }).click();
  const read = features.getByTestId("resource-result");
  await expect(read).toContainText("text/markdown");
  await expect(read.locator("pre")).toContainText("#");
  await page.screenshot({ path: "test-results/resources-desktop.png", fullPage: true });

  // Fill a template: the expanded URI is shown, then read.
  const text = page.getByTestId("template-item").filter({ hasText: "Dynamic Text Resource" });
  await text.getByLabel("resourceId").fill("7");
  await expect(text.getByTestId("expanded-uri")).toHaveText("demo://resource/dynamic/text/7");
  await text.getByRole("button", { name: "Read from Dynamic Text Resource" }).click();
  await expect(text.getByTestId("resource-result")).toContainText("Resource 7: This is a plaintext resource");
  // A value the server refuses: its error, clearly.
  await text.getByLabel("resourceId").fill("abc");
  await text.getByRole("button", { name: "Read from Dynamic Text Resource" }).click();
  await expect(text.getByRole("alert")).toContainText(/Unknown resource|resource/i);

  // A blob: type, size and a download.
  const blob = page.getByTestId("template-item").filter({ hasText: "Dynamic Blob Resource" });
  await blob.getByLabel("resourceId").fill("2");
  await blob.getByRole("button", { name: "Read from Dynamic Blob Resource" }).click();
  const blobResult = blob.getByTestId("resource-result");
  await expect(blobResult).toContainText("Binary content (text/plain)");
  await expect(blobResult).toContainText(/\d+ B/);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    blobResult.getByRole("link", { name: "Download" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("2");

  // Get a prompt: required arguments marked and checked, then the messages with their roles.
  const prompt = page.getByTestId("prompt-item").filter({ hasText: "args-prompt" });
  await prompt.getByRole("button", { name: "Get args-prompt" }).click();
  await prompt.getByRole("button", { name: "Get args-prompt" }).click();
  await expect(prompt.getByText("city is required")).toBeVisible();
  await prompt.getByLabel(/^city/).fill("Paris");
  await prompt.getByLabel(/^state/).fill("Texas");
  await prompt.getByRole("button", { name: "Get args-prompt" }).click();
  const message = prompt.getByTestId("prompt-message");
  await expect(message).toHaveCount(1);
  await expect(message).toContainText("user");
  await expect(message).toContainText("What's weather in Paris, Texas?");

  // Phone: nothing scrolls sideways, long URIs wrap.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await features.getByRole("button", { name: "Read features.md" }).click();
  await expect(features.getByTestId("resource-result")).toBeVisible();
  await noSidewaysScroll(page);
  await page.screenshot({ path: "test-results/resources-phone.png", fullPage: true });

  // Another person: the integration (and so its resources) does not exist for them.
  const other = await (await browser.newContext()).newPage();
  await signUp(other, uniqueEmail("other"));
  expect((await other.goto(integrationUrl))?.status()).toBe(404);
  await expect(other.getByTestId("resource-list")).toHaveCount(0);
});
