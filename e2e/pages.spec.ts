// The integration page, the add form, Activity, Settings, the Kitchen forms and the CLI approval page, used
// as a person would: real fixture servers, a production build, Chromium at desktop and phone sizes.
import { expect, test, type Locator, type Page } from "@playwright/test";
import { startOAuthServer, type OAuthFixture } from "../test/fixtures/oauth-servers";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { startTaskServer } from "../test/fixtures/task-server";
import { addIntegration, alertOf, createApiToken, signInAdmin, signUp, uniqueEmail } from "./helpers";

const INSTRUCTIONS = [
  "# Guide",
  "Use **echo** to repeat text. See [the docs](https://example.com/docs) and [a trap](javascript:alert(1)).",
  '<img src="x" onerror="alert(1)"><b>raw</b> html stays out.',
  "Line three.",
  "Line four.",
  "Line five.",
  "Line six.",
  "The last line.",
].join("\n\n");

let modern: McpFixture;
let sessionful: McpFixture;

test.beforeAll(async () => {
  modern = await startMcpServer({ instructions: INSTRUCTIONS, title: "Pages Fixture" });
  sessionful = await startMcpServer({ mode: "sessionful" });
});
test.afterAll(async () => {
  await modern?.close();
  await sessionful?.close();
});
test.slow();

async function openIntegration(page: Page, name: string, url: string) {
  await addIntegration(page, name, url);
  await page.getByRole("link", { name: `Open ${name}` }).click();
  await expect(page).toHaveURL(/\/integrations\/[^/?]+$/);
  await expect(page.getByTestId("integration-status")).toBeVisible();
}

/** The element fits its own box: nothing cut off sideways. */
async function notClipped(l: Locator) {
  const [scroll, client] = await l.evaluate((el) => [el.scrollWidth, el.clientWidth]);
  expect(scroll).toBeLessThanOrEqual(client + 1);
}

/** At phone width, the page's content fits: nothing in <main> sticks out sideways. */
async function fitsPhone(page: Page) {
  await page.setViewportSize({ width: 390, height: 844 });
  const [scroll, client] = await page
    .locator("main")
    .first()
    .evaluate((el) => [el.scrollWidth, el.clientWidth]);
  expect(scroll).toBeLessThanOrEqual(client + 1);
  await page.setViewportSize({ width: 1280, height: 800 });
}

test("integration page: instructions as safe markdown, collapsed until Show all", async ({ page }) => {
  await signUp(page, uniqueEmail("pages"));
  await openIntegration(page, "Docs", modern.url);
  const box = page.getByTestId("server-instructions");
  await expect(box.locator("strong", { hasText: "echo" })).toBeVisible();
  const docs = box.getByRole("link", { name: "the docs" });
  await expect(docs).toHaveAttribute("href", "https://example.com/docs");
  await expect(docs).toHaveAttribute("rel", "noopener noreferrer");
  // A javascript: link is no link; raw HTML is not markup.
  await expect(box.getByRole("link", { name: "a trap" })).toHaveCount(0);
  await expect(box).toContainText("a trap");
  await expect(box.locator("img, b, script")).toHaveCount(0);
  expect(await box.innerHTML()).not.toContain("onerror");

  // Collapsed to a few lines: the last line is cut off until Show all.
  const last = box.getByText("The last line.");
  await expect(last).not.toBeInViewport();
  const [boxBottom, lastTop] = await Promise.all([
    box.evaluate((el) => el.getBoundingClientRect().bottom),
    last.evaluate((el) => el.getBoundingClientRect().top),
  ]);
  expect(lastTop).toBeGreaterThan(boxBottom);
  await page.getByRole("button", { name: "Show all" }).click();
  await expect(last).toBeInViewport();
  await page.getByRole("button", { name: "Show less" }).click();
  await expect(page.getByRole("button", { name: "Show all" })).toBeVisible();
  await fitsPhone(page);
});

test("integration page: Edit in a dialog, Re-sync below the header, tools switch at once", async ({
  page,
  context,
}) => {
  await signUp(page, uniqueEmail("pages"));
  await openIntegration(page, "Switches", modern.url);
  const id = page.url().match(/\/integrations\/([^/?]+)/)![1];

  // Try on every tool row, and a Playground link in the header.
  const rows = page.getByTestId("tool-item");
  const total = await rows.count();
  expect(total).toBeGreaterThan(1);
  await expect(page.getByRole("link", { name: "Try echo" })).toHaveAttribute(
    "href",
    `/integrations/${id}/playground?tool=echo`,
  );
  await expect(rows.getByRole("link", { name: /^Try / })).toHaveCount(total);
  await expect(page.getByRole("link", { name: "Playground", exact: true })).toHaveAttribute(
    "href",
    `/integrations/${id}/playground`,
  );

  // Edit opens a dialog wide enough for the URL; the buttons keep their size.
  const del = page.getByRole("button", { name: "Delete" });
  const delBefore = (await del.boundingBox())!;
  await page.getByRole("button", { name: "Edit" }).click();
  const dialog = page.getByRole("dialog", { name: "Edit Switches" });
  await expect(dialog).toBeVisible();
  expect((await dialog.boundingBox())!.width).toBeGreaterThan(500);
  await expect(dialog.getByLabel("MCP server URL")).toHaveValue(modern.url);
  await expect(dialog.getByLabel("API key")).toBeVisible(); // not from a template
  await expect(dialog.getByText("Use letters, digits")).toBeVisible();
  await dialog.getByLabel("Name").fill("Bad/name");
  await expect(dialog.getByText("Use letters, digits, spaces, dots, dashes and underscores")).toBeVisible();
  await expect(dialog.getByLabel("Name")).toHaveAttribute("aria-invalid", "true");
  await dialog.getByLabel("Name").fill("Switches");
  await expect(dialog.getByLabel("Name")).not.toHaveAttribute("aria-invalid", "true");
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(dialog).toBeHidden();
  expect((await del.boundingBox())!.height).toBeLessThanOrEqual(delBefore.height + 1);

  // Re-sync: the outcome sits below the header, not in the button row.
  await page.getByRole("button", { name: "Re-sync" }).click();
  const summary = page.getByTestId("sync-summary");
  await expect(summary).toContainText(`${total} tools`);
  expect((await summary.boundingBox())!.y).toBeGreaterThan(delBefore.y + delBefore.height);
  expect((await del.boundingBox())!.height).toBeLessThanOrEqual(delBefore.height + 1);

  // Disabling a tool: the switch, its word, the row and the count all say so.
  const echo = rows.filter({ has: page.getByLabel("Enable echo") });
  const title = page.getByTestId("tools-title");
  await expect(title).toHaveText(`Tools (${total})`);
  await expect(page.getByLabel("Enable echo")).toHaveAttribute("role", "switch");
  await page.getByLabel("Enable echo").click();
  await expect(page.getByLabel("Enable echo")).not.toBeChecked();
  await expect(echo.getByTestId("tool-state")).toHaveText("disabled");
  await expect(echo).toHaveAttribute("data-enabled", "false");
  expect(await echo.locator(":scope > div").evaluate((el) => getComputedStyle(el).opacity)).toBe("0.6");
  await expect(title).toHaveText(`Tools (${total - 1} of ${total} enabled)`);
  await page.reload();
  await expect(page.getByLabel("Enable echo")).not.toBeChecked();
  await expect(title).toHaveText(`Tools (${total - 1} of ${total} enabled)`);

  // The server refuses (the integration was deleted elsewhere): the switch goes back, with the reason.
  const other = await context.newPage();
  await other.goto(`/integrations/${id}`);
  other.once("dialog", (d) => d.accept());
  await other.getByRole("button", { name: "Delete" }).click();
  await expect(other).toHaveURL(/\/integrations$/);
  await other.close();
  await page.getByLabel("Enable add").click();
  await expect(alertOf(page)).toContainText("Could not disable add");
  await expect(page.getByLabel("Enable add")).toBeChecked();
});

test("tools that must run as tasks carry a task badge", async ({ page }) => {
  const tasks = await startTaskServer();
  try {
    await signUp(page, uniqueEmail("pages"));
    await openIntegration(page, "Tasks", tasks.url);
    const row = (name: string) =>
      page.getByTestId("tool-item").filter({ has: page.getByLabel(`Enable ${name}`) });
    await expect(row("research").getByText("task", { exact: true })).toBeVisible();
    await expect(row("summarize").getByText("task", { exact: true })).toHaveCount(0);
  } finally {
    await tasks.close();
  }
});

test("the Doctor: whole messages, and protocol revisions named for how they work", async ({ page }) => {
  await signUp(page, uniqueEmail("pages"));
  await addIntegration(page, "Nowhere", "http://127.0.0.1:9/mcp");
  await page.getByRole("link", { name: "Open Nowhere" }).click();
  await page.getByRole("button", { name: "Run Doctor" }).click();
  const detail = page.getByTestId("doctor-transport").getByTestId("doctor-detail");
  await expect(detail).toContainText("refused the connection. Is the server running on that port?");
  await notClipped(detail);
  await page.setViewportSize({ width: 390, height: 844 });
  await notClipped(detail);
  await page.setViewportSize({ width: 1280, height: 800 });

  await openIntegration(page, "Sessions", sessionful.url);
  await page.getByRole("button", { name: "Run Doctor" }).click();
  const protocol = page.getByTestId("doctor-protocol");
  await expect(protocol).toContainText(/2025-\d\d-\d\d \(session-based revision\)/);
  await expect(protocol).not.toContainText("legacy");

  await openIntegration(page, "Stateless", modern.url);
  await page.getByRole("button", { name: "Run Doctor" }).click();
  await expect(page.getByTestId("doctor-protocol")).toContainText("2026-07-28 (stateless revision)");
});

test("add form: the name rule at the field, live; a URL without a scheme is completed", async ({ page }) => {
  await signUp(page, uniqueEmail("pages"));
  await page.goto("/integrations");
  const name = page.getByLabel("Name");
  await expect(page.getByText("Use letters, digits, spaces, dots, dashes and underscores.")).toBeVisible();
  await name.fill("my/server");
  // Before any Save: the field itself says what is wrong.
  await expect(name).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByText("Use letters, digits, spaces, dots, dashes and underscores")).toBeVisible();
  await name.fill("My server");
  await expect(name).not.toHaveAttribute("aria-invalid", "true");

  const url = page.getByLabel("MCP server URL");
  await url.fill("localhost:3402/mcp");
  await expect(page.getByTestId("normalized-url")).toHaveText("Connects to http://localhost:3402/mcp");
  await url.fill("mcp.example.com/mcp");
  await expect(page.getByTestId("normalized-url")).toHaveText("Connects to https://mcp.example.com/mcp");

  const typed = modern.url.replace(/^http:\/\//, ""); // 127.0.0.1:<port>/mcp
  await url.fill(typed);
  await page.getByRole("button", { name: "Add integration" }).click();
  await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await expect(page.getByTestId("connected-url")).toHaveText(modern.url);
});

test("needs authorization: one message; after Deny, one banner", async ({ page }) => {
  const as: OAuthFixture = await startOAuthServer({ dcr: true, consent: "page" });
  try {
    await signUp(page, uniqueEmail("pages"));
    await openIntegration(page, "Guarded", as.mcpUrl);
    await expect(page.getByTestId("needs-auth")).toHaveCount(1);
    await expect(page.getByTestId("needs-auth")).toContainText("requires you to authorize");
    await expect(alertOf(page)).toHaveCount(0);
    await page.getByRole("button", { name: "Authorize" }).click();
    await page.getByRole("button", { name: "Deny" }).click();
    await expect(page).toHaveURL(/oauth_error=/);
    await expect(alertOf(page)).toHaveCount(1);
    await expect(alertOf(page)).toContainText(/denied/i);
    await expect(page.getByRole("button", { name: "Authorize" })).toBeVisible();
  } finally {
    await as.close();
  }
});

test("Activity: a call opens with Run again; filters apply at once; local times; a list on phones", async ({
  browser,
}) => {
  const context = await browser.newContext({ timezoneId: "Asia/Kolkata" });
  const page = await context.newPage();
  try {
    await signUp(page, uniqueEmail("pages"));
    const token = await createApiToken(page, "activity pages");
    await addIntegration(page, "Kept", modern.url);
    await page.getByRole("link", { name: "Open Kept" }).click();
    await expect(page).toHaveURL(/\/integrations\/[^/?]+$/);
    await page.getByLabel("Store arguments and results of Kept").check();
    await expect(page.getByLabel("Store arguments and results of Kept")).toBeEnabled();
    const id = page.url().match(/\/integrations\/([^/?]+)/)![1];
    const res = await page.request.post(`/api/v1/integrations/${id}/tools/echo/call`, {
      headers: { Authorization: `Bearer ${token}` },
      data: { arguments: { text: "from pages" } },
    });
    expect(res.status()).toBe(200);

    await page.goto("/activity");
    const row = page.getByTestId("call-row").first();
    const time = row.locator("time");
    await expect(time).not.toContainText("UTC");
    const expected = await time.evaluate((el) =>
      new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" }).format(
        new Date(el.getAttribute("datetime")!),
      ),
    );
    await expect(time).toHaveText(expected);

    await row.getByRole("button", { name: "echo" }).click();
    const details = page.getByTestId("call-details");
    await expect(details).toContainText("from pages");
    await details.getByRole("link", { name: "Run again in the playground" }).click();
    await expect(page).toHaveURL(new RegExp(`/integrations/${id}/playground\\?`));
    const rerun = new URL(page.url());
    expect(rerun.searchParams.get("tool")).toBe("echo");
    expect(JSON.parse(rerun.searchParams.get("args")!)).toEqual({ text: "from pages" });

    await page.goto("/activity");
    await fitsPhone(page);
    await page.getByLabel("Status").selectOption({ label: "tool error" });
    await expect(page).toHaveURL(/status=tool_error/);
    await expect(page.getByText("No calls match these filters.")).toBeVisible();
    await page.getByLabel("Status").selectOption({ label: "Any status" });
    await expect(page).toHaveURL(/\/activity$/);
    await expect(page.getByTestId("call-row")).toHaveCount(1);

    await page.setViewportSize({ width: 390, height: 844 });
    // A list: the column headings are left to screen readers, each row is a card of labelled lines.
    await expect
      .poll(() =>
        page
          .locator("thead")
          .first()
          .evaluate((el) => el.getBoundingClientRect().width),
      )
      .toBeLessThanOrEqual(1);
    await expect
      .poll(() =>
        page
          .getByTestId("call-row")
          .first()
          .evaluate((el) => getComputedStyle(el).display),
      )
      .toBe("block");
    for (const table of await page.locator("table").all()) {
      const [w, parent] = await table.evaluate((el) => [el.scrollWidth, el.parentElement!.clientWidth]);
      expect(w).toBeLessThanOrEqual(parent + 1);
    }
    expect(
      await page
        .getByTestId("call-row")
        .first()
        .evaluate((el) => getComputedStyle(el).display),
    ).toBe("block");
  } finally {
    await context.close();
  }
});

test("Settings: copy a new token; ready-to-paste client configurations; a list on phones", async ({
  browser,
  baseURL,
}) => {
  const context = await browser.newContext({ permissions: ["clipboard-read", "clipboard-write"] });
  const page = await context.newPage();
  try {
    await signUp(page, uniqueEmail("pages"));
    const token = await createApiToken(page, "copy me");
    await page.getByRole("button", { name: "Copy token" }).click();
    await expect(page.getByRole("button", { name: "Copied" })).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);

    const endpoint = `${baseURL}/api/mcp`;
    const config = page.getByTestId("client-config");
    await expect(config).toContainText('"proxy"');
    await expect(config).toContainText(endpoint);
    await page.getByRole("tab", { name: "Cursor" }).click();
    await expect(config).toContainText('"Authorization": "Bearer poke_…"');
    const cursor = JSON.parse((await config.textContent())!);
    expect(cursor.mcpServers.poke.url).toBe(endpoint);
    await page.getByRole("tab", { name: "VS Code" }).click();
    expect(JSON.parse((await config.textContent())!).servers.poke.type).toBe("http");
    await page.getByRole("tab", { name: "curl" }).click();
    await expect(config).toContainText(`curl -sS '${endpoint}'`);
    await page.getByRole("tabpanel").getByRole("button", { name: "Copy" }).click();
    await expect(page.getByRole("tabpanel").getByRole("button", { name: "Copied" })).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toContain("curl -sS");
    await fitsPhone(page);

    await page.setViewportSize({ width: 390, height: 844 });
    for (const table of await page.locator("table").all()) {
      const [w, parent] = await table.evaluate((el) => [el.scrollWidth, el.parentElement!.clientWidth]);
      expect(w).toBeLessThanOrEqual(parent + 1);
    }
    expect(
      await page
        .getByTestId("token-row")
        .first()
        .evaluate((el) => getComputedStyle(el).display),
    ).toBe("block");
  } finally {
    await context.close();
  }
});

test("Kitchen: a taken name shows at the field and clears once fixed; template installs have no API key to edit", async ({
  page,
}) => {
  const name = `Plain ${Date.now() % 100000}`;
  await signInAdmin(page);
  const newTemplate = async (n: string) => {
    await page.goto("/kitchen/templates/new");
    await page.getByLabel("Name", { exact: true }).fill(n);
    await page.getByLabel("MCP server URL").fill(modern.url);
    await page.getByLabel("Authentication").selectOption("none");
    await page.getByRole("button", { name: "Create template" }).click();
  };
  await newTemplate(name);
  await expect(page.getByText("Template created.")).toBeVisible();

  await newTemplate(name.toUpperCase());
  // (the field's error is part of its label, so match the label's start)
  const nameField = page.getByLabel(/^Name/);
  await expect(nameField).toHaveAttribute("aria-invalid", "true");
  await expect(nameField.locator("xpath=..")).toContainText("already exists");
  await nameField.fill(`${name} two`);
  await expect(nameField).not.toHaveAttribute("aria-invalid", "true");
  await expect(alertOf(page)).toHaveCount(0);

  // Install the first template through a recipe, then edit the installed integration.
  await page.goto("/kitchen/recipes/new");
  await page.getByLabel("Recipe name").fill(`${name} recipe`);
  await page.getByLabel("Add template").selectOption({ label: `${name} (${new URL(modern.url).origin})` });
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("button", { name: "Create recipe" }).click();
  const shareUrl = (await page.getByTestId("share-url").textContent())!.trim();
  await page.goto(new URL(shareUrl).pathname);
  await page.getByRole("button", { name: "Install" }).click();
  await expect(page.getByTestId("install-item-status").first()).toHaveText("connected");
  await page.goto("/integrations");
  await page.getByTestId("integration-card").filter({ hasText: name }).click();
  await expect(page.getByTestId("integration-status")).toBeVisible();
  await page.getByRole("button", { name: "Edit" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByLabel("MCP server URL")).toBeVisible();
  await expect(dialog.getByLabel("API key")).toHaveCount(0);
});

test("CLI approval: commands shown as code, never in backticks", async ({ page }) => {
  await signUp(page, uniqueEmail("pages"));
  await page.goto("/cli/approve?code=ZZZZ-ZZZZ&host=laptop");
  const alert = alertOf(page);
  await expect(alert).toContainText("Run poke login again.");
  await expect(alert.locator("code")).toHaveText("poke login");
  expect(await page.locator("body").innerText()).not.toContain("`");
});
