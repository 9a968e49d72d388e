// The playground's own view against real servers: the tool in the URL, inputs kept per tool, Enter submits,
// a failed validation clears the previous result, Cancel sends notifications/cancelled, the timeout is
// honoured, progress is shown, and results render images, embedded resources, annotations, resource links,
// the output-schema verdict, raw JSON, copy and large-content collapse.
import { expect, test, type Page } from "@playwright/test";
import { startEverything, type Everything } from "../test/fixtures/everything";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { addIntegration, signUp, uniqueEmail } from "./helpers";

let server: McpFixture;
let everything: Everything;
let everythingUrl: string;

test.beforeAll(async () => {
  // 2025 era (initialize + session), where a cancelled call is announced with notifications/cancelled.
  server = await startMcpServer({ mode: "sessionful", tools: "results" });
  everything = await startEverything();
  everythingUrl = everything.url;
});
test.afterAll(async () => {
  await server?.close();
  everything?.close();
});

/** Adds the integration and returns its id. */
async function add(page: Page, name: string, url: string): Promise<string> {
  await addIntegration(page, name, url);
  await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await page.getByRole("link", { name: `Open ${name}` }).click();
  await expect(page).toHaveURL(/\/integrations\/[^/?]+$/);
  return new URL(page.url()).pathname.split("/").pop()!;
}

const outcome = (page: Page) => page.getByTestId("call-outcome");

/** Picks a tool in the playground and calls it with the inputs as they are. */
async function callTool(page: Page, name: string): Promise<void> {
  await page.getByLabel("Tool", { exact: true }).selectOption(name);
  await page.getByRole("button", { name: `Call ${name}` }).click();
}

test("the tool is in the URL, inputs are kept per tool, Enter submits, a refused call clears the result", async ({
  page,
}) => {
  await signUp(page, uniqueEmail("playground"));
  const id = await add(page, "Fixture", server.url);

  // A link opens the playground on a tool; choosing another updates the URL.
  await page.goto(`/integrations/${id}/playground?tool=echo`);
  const tool = page.getByLabel("Tool", { exact: true });
  await expect(tool).toHaveValue("echo");
  await page.getByLabel("text", { exact: true }).fill("kept");
  await tool.selectOption("big");
  await expect(page).toHaveURL(/[?&]tool=big/);
  await tool.selectOption("echo");
  await expect(page.getByLabel("text", { exact: true })).toHaveValue("kept");

  // Enter in a single-line input submits; focus lands on the outcome.
  await page.getByLabel("text", { exact: true }).press("Enter");
  await expect(page.getByTestId("tool-result")).toContainText("kept");
  await expect(outcome(page)).toBeFocused();

  // A call the server refuses (invalid arguments) clears the previous result and shows why.
  await page.getByRole("button", { name: "Raw JSON" }).first().click();
  await page.getByLabel("Arguments (JSON)").fill('{"text": 5}');
  await page.getByRole("button", { name: "Call echo" }).click();
  await expect(outcome(page).getByRole("alert")).toContainText(/text/);
  await expect(page.getByTestId("tool-result")).toHaveCount(0);
  await page.getByLabel("Arguments (JSON)").fill("{not json");
  await page.getByRole("button", { name: "Call echo" }).click();
  await expect(outcome(page)).toContainText("Arguments are not valid JSON.");

  // &args= prefills the arguments.
  await page.goto(`/integrations/${id}/playground?tool=echo&args=${encodeURIComponent('{"text":"again"}')}`);
  await expect(page.getByLabel("text", { exact: true })).toHaveValue("again");

  // The optional address object can be left empty and the call gets through.
  await page.getByLabel("Tool", { exact: true }).selectOption("form");
  await page.getByLabel(/color/).first().selectOption("red");
  await page.getByRole("button", { name: "Call form" }).click();
  await expect(page.getByTestId("tool-result")).toContainText('"color":"red"');
  expect(server.calls.at(-1)?.arguments).not.toHaveProperty("address");
});

test("Cancel sends notifications/cancelled; a progress message is shown; the timeout is honoured", async ({
  page,
}) => {
  await signUp(page, uniqueEmail("playground-cancel"));
  const id = await add(page, "Fixture", server.url);
  await page.goto(`/integrations/${id}/playground?tool=hang`);
  await page.getByRole("button", { name: "Call hang" }).click();
  await expect(page.getByTestId("call-elapsed")).toBeVisible();
  await expect.poll(() => server.calls.filter((c) => c.name === "hang").at(-1)?.outcome).toBe("pending");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(outcome(page)).toContainText("Cancelled");
  await expect
    .poll(() => server.requests.some((r) => r.rpcMethod === "notifications/cancelled"), { timeout: 15_000 })
    .toBe(true);
  await expect.poll(() => server.calls.filter((c) => c.name === "hang").at(-1)?.outcome).toBe("cancelled");

  await callTool(page, "report");
  await expect(page.getByTestId("progress-message")).toHaveText("Reading page 1 of 4");
  await expect(page.getByTestId("call-progress")).toContainText("1 of 4");
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(outcome(page)).toContainText("Cancelled");

  await page.getByLabel("Tool", { exact: true }).selectOption("slow");
  await page.getByLabel("ms", { exact: true }).fill("60000");
  await page.getByLabel("Timeout (seconds)").fill("1");
  await page.getByRole("button", { name: "Call slow" }).click();
  await expect(outcome(page)).toContainText(/did not finish within 1/, { timeout: 20_000 });
});

test("results: image with zoom, embedded resource, error, output schema verdicts (match and mismatch), audio, raw JSON, copy, large collapse", async ({
  page,
  context,
}) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signUp(page, uniqueEmail("playground-results"));
  const id = await add(page, "Fixture", server.url);

  await page.goto(`/integrations/${id}/playground?tool=image`);
  await page.getByRole("button", { name: "Call image" }).click();
  const image = page.getByTestId("result-image");
  await expect(image).toContainText("image/png");
  await expect(image).toContainText(/\d+ B/);
  await image.getByRole("button", { name: "Zoom the image" }).click();
  await expect(page.getByRole("dialog", { name: "Image" })).toBeVisible();
  await page.getByRole("dialog", { name: "Image" }).getByRole("button", { name: "Close" }).click();

  await callTool(page, "resource");
  await expect(page.getByTestId("embedded-resource")).toContainText("fixture://notes/1");
  await expect(page.getByTestId("embedded-resource")).toContainText("text/plain");

  await callTool(page, "fail");
  await expect(page.getByTestId("tool-result")).toContainText("tool error");

  await page.getByLabel("Tool", { exact: true }).selectOption("add");
  await page.getByLabel("a", { exact: true }).fill("2");
  await page.getByLabel("b", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Call add" }).click();
  await expect(page.getByTestId("output-check")).toHaveText("Structured content matches the output schema.");
  await page.getByTestId("tool-result").getByRole("button", { name: "Raw JSON" }).click();
  await expect(page.getByTestId("raw-json")).toContainText('"structuredContent"');
  await page.getByRole("button", { name: "Copy text" }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe("5");

  await callTool(page, "mismatch");
  await expect(page.getByTestId("output-check")).toContainText("does not match the output schema");
  await expect(page.getByTestId("output-check")).toContainText("sum");

  await callTool(page, "audio");
  const audio = page.getByTestId("result-audio");
  await expect(audio).toContainText("audio/wav · 44 B");
  await expect(audio.locator("audio[controls]")).toHaveAttribute("src", /^data:audio\/wav;base64,/);
  expect(
    await audio.locator("audio").evaluate((el: HTMLAudioElement) => el.canPlayType("audio/wav")),
  ).not.toBe("");

  await page.getByLabel("Tool", { exact: true }).selectOption("big");
  await page.getByLabel("bytes", { exact: true }).fill("60000");
  await page.getByRole("button", { name: "Call big" }).click();
  const collapsed = page.getByTestId("large-collapsed");
  await expect(collapsed).toContainText("58.6 KB");
  await collapsed.getByRole("button", { name: "Show it" }).click();
  await expect(page.getByTestId("tool-result").locator("pre")).toContainText("xxxx");
});

test("server-everything: progress, annotations and resource links", async ({ page }) => {
  await signUp(page, uniqueEmail("playground-everything"));
  const id = await add(page, "Everything", everythingUrl);

  await page.goto(`/integrations/${id}/playground?tool=trigger-long-running-operation`);
  await page.getByLabel("duration", { exact: true }).fill("4");
  await page.getByLabel("steps", { exact: true }).fill("4");
  await page.getByRole("button", { name: "Call trigger-long-running-operation" }).click();
  await expect(page.getByTestId("call-progress")).toContainText(/of 4/, { timeout: 20_000 });
  await expect(page.getByTestId("call-progress").locator("progress[value]")).toBeVisible();
  await expect(page.getByTestId("tool-result")).toBeVisible({ timeout: 30_000 });

  // A tool that requires task-based execution carries the task badge.
  await page.getByLabel("Tool", { exact: true }).selectOption("simulate-research-query");
  await expect(page.getByTestId("playground-task")).toContainText("task");

  await page.getByLabel("Tool", { exact: true }).selectOption("get-annotated-message");
  await page
    .getByLabel(/messageType/)
    .first()
    .selectOption("error");
  await page.getByRole("button", { name: "Call get-annotated-message" }).click();
  await expect(page.getByTestId("annotations").first()).toContainText(/priority: 1/);

  await callTool(page, "get-resource-links");
  const link = page.getByTestId("resource-link").first();
  await expect(link).toContainText("demo://");
  await link.getByRole("button", { name: "Read" }).click();
  await expect(link.getByTestId("resource-result")).toBeVisible();
});
