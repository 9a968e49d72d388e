// Every page, signed in and public, at desktop (1280×800) and phone (390×844) sizes: no sideways scroll on
// a phone, no serious or critical WCAG 2 A/AA findings from axe, and a full-page screenshot of each in
// test-results/screenshots/<page>-<desktop|phone>.png. Also: the skip link is the first stop for Tab.
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import path from "node:path";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { startOAuthServer, type OAuthFixture } from "../test/fixtures/oauth-servers";
import { addIntegration, signInAdmin } from "./helpers";

const SIZES = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
} as const;
const SHOTS = path.join("test-results", "screenshots");
const CLIENT_SECRET = "walkthrough-secret-value";

let mcp: McpFixture;
let oauth: OAuthFixture;

test.beforeAll(async () => {
  mcp = await startMcpServer({ title: "Walkthrough Server", instructions: "Use echo to repeat text." });
  oauth = await startOAuthServer({
    dcr: false,
    clients: [
      {
        client_id: "poke-walk",
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    consent: "page",
  });
});
test.afterAll(async () => {
  await mcp?.close();
  await oauth?.close();
});
test.slow();

type Finding = { page: string; size: string; detail: string };

/** Visits one page at both sizes: overflow check on the phone, axe at both, screenshots at both. */
async function walk(page: Page, name: string, url: string, findings: Finding[]) {
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    await page.goto(url);
    await page.waitForLoadState("load");
    await expect(page.locator("main")).toBeVisible();
    if (size === "phone") {
      const { scroll, inner } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        inner: window.innerWidth,
      }));
      if (scroll > inner) {
        findings.push({ page: name, size, detail: `horizontal overflow: scrollWidth ${scroll} > ${inner}` });
      }
    }
    const axe = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
    for (const v of axe.violations) {
      if (v.impact !== "serious" && v.impact !== "critical") continue;
      const targets = v.nodes.map((n) => n.target.join(" ")).join(" | ");
      findings.push({ page: name, size, detail: `${v.id} (${v.impact}): ${targets}` });
    }
    await page.screenshot({ path: path.join(SHOTS, `${name}-${size}.png`), fullPage: true });
  }
}

test("every page fits a phone, passes axe's serious/critical WCAG 2 A/AA rules, and is screenshotted", async ({
  page,
  browser,
  request,
}) => {
  const findings: Finding[] = [];

  // Public pages, signed out.
  const visitor = await (await browser.newContext()).newPage();
  await walk(visitor, "sign-in", "/sign-in", findings);
  await walk(visitor, "sign-up", "/sign-up", findings);

  // Data for the signed-in pages: an integration with a call in Activity, a toolset, a recipe, a CLI login.
  await page.setViewportSize(SIZES.desktop);
  await signInAdmin(page);
  const name = `Walk ${Date.now() % 100000}`;
  await addIntegration(page, name, mcp.url);
  await expect(page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await page.getByRole("link", { name: `Open ${name}` }).click();
  await expect(page).toHaveURL(/\/integrations\/[^/?]+$/);
  const integrationPath = new URL(page.url()).pathname;

  await page.goto(`${integrationPath}/playground?tool=add`);
  await page.getByLabel("a", { exact: true }).fill("2");
  await page.getByLabel("b", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Call add" }).click();
  await expect(page.getByTestId("tool-result")).toContainText('"sum": 5');

  await page.goto("/toolsets/new");
  const toolsetName = `walk-${Date.now() % 100000}`;
  await page.getByLabel("Name").fill(toolsetName);
  await page.getByRole("group", { name }).getByRole("checkbox", { name: "echo", exact: true }).check();
  await page.getByRole("button", { name: "Create toolset" }).click();
  await expect(page.getByRole("heading", { name: toolsetName })).toBeVisible();
  const toolsetPath = new URL(page.url()).pathname;

  await page.goto("/kitchen/templates/new");
  await page.getByLabel("Name", { exact: true }).fill(`${name} template`);
  await page.getByLabel("MCP server URL").fill(oauth.mcpUrl);
  await page.getByLabel("Client ID").fill("poke-walk");
  await page.getByLabel("Client secret").fill(CLIENT_SECRET);
  await page.getByRole("button", { name: "Test" }).click();
  await page.getByRole("button", { name: "Use this issuer" }).click();
  await page.getByRole("button", { name: "Create template" }).click();
  await expect(page.getByText("Template created.")).toBeVisible();
  const templatePath = new URL(page.url()).pathname;
  await page.goto("/kitchen/recipes/new");
  await page.getByLabel("Recipe name").fill(`${name} recipe`);
  await page.getByLabel("Add template").selectOption({ label: `${name} template (${oauth.origin})` });
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("button", { name: "Create recipe" }).click();
  const shareUrl = (await page.getByTestId("share-url").textContent())!.trim();
  const recipePath = new URL(shareUrl).pathname;

  const start = await request.post("/api/cli/login", { data: { host: "walkthrough" } });
  expect(start.status()).toBe(201);
  const approve = new URL(((await start.json()) as { approveUrl: string }).approveUrl);

  // The recipe's preview is public.
  await walk(visitor, "recipe-install", recipePath, findings);
  await visitor.context().close();

  const pages: [string, string][] = [
    ["integrations", "/integrations"],
    ["integration-detail", integrationPath],
    ["playground", `${integrationPath}/playground`],
    ["activity", "/activity"],
    ["settings", "/settings"],
    ["toolsets", "/toolsets"],
    ["toolset-new", "/toolsets/new"],
    ["toolset-detail", toolsetPath],
    ["admin", "/admin"],
    ["kitchen", "/kitchen"],
    ["kitchen-template-new", "/kitchen/templates/new"],
    ["kitchen-template", templatePath],
    ["cli-approve", `${approve.pathname}${approve.search}`],
  ];
  for (const [pageName, url] of pages) await walk(page, pageName, url, findings);

  expect(
    findings.map((f) => `${f.page} (${f.size}): ${f.detail}`),
    "pages with horizontal overflow or serious/critical axe violations",
  ).toEqual([]);
});

test("Tab reaches the skip link first and it moves focus to the page's main content", async ({ page }) => {
  await signInAdmin(page);
  for (const viewport of Object.values(SIZES)) {
    await page.setViewportSize(viewport);
    await page.goto("/integrations");
    await page.keyboard.press("Tab");
    const skip = page.getByRole("link", { name: "Skip to content" });
    await expect(skip).toBeFocused();
    await expect(skip).toBeVisible();
    await page.keyboard.press("Enter");
    await expect(page.locator("main#main")).toBeFocused();
  }
});

test("on a phone the header's Menu opens the navigation, the email and Sign out", async ({ page }) => {
  await signInAdmin(page);
  await page.setViewportSize(SIZES.phone);
  await page.goto("/toolsets");
  const menu = page.getByRole("button", { name: "Menu" });
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await menu.focus();
  await page.keyboard.press("Enter");
  await expect(menu).toHaveAttribute("aria-expanded", "true");
  const nav = page.getByRole("navigation", { name: "Main (menu)" });
  await expect(nav.getByRole("link", { name: "Toolsets" })).toHaveAttribute("aria-current", "page");
  await expect(page.locator("#mobile-menu").getByTestId("current-user")).toBeVisible();
  await expect(page.locator("#mobile-menu").getByRole("button", { name: "Sign out" })).toBeVisible();
  await nav.getByRole("link", { name: "Activity" }).click();
  await expect(page).toHaveURL(/\/activity$/);
  await expect(menu).toHaveAttribute("aria-expanded", "false");
});
