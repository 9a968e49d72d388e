// Content-Security-Policy in a real browser (docs/security.md §5): every page of a walkthrough — sign-up,
// sign-in, integrations, the playground, activity, settings, the CLI approval, the Kitchen and a recipe
// install through an OAuth consent page — loads with a policy carrying a fresh script nonce and reports no
// violation; an injected event handler or javascript: link does not run.
import { expect, test, type Browser, type Page } from "@playwright/test";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";
import { startOAuthServer, type OAuthFixture } from "../test/fixtures/oauth-servers";
import { addIntegration, PASSWORD, signInAdmin, signOut, signUp, uniqueEmail, watchCsp } from "./helpers";

const CLIENT_SECRET = "csp-e2e-secret-value";
let mcp: McpFixture;
let fx: OAuthFixture;

test.beforeAll(async () => {
  mcp = await startMcpServer();
  fx = await startOAuthServer({
    dcr: false,
    clients: [
      {
        client_id: "poke-csp",
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    consent: "page",
  });
});
test.afterAll(async () => {
  await mcp?.close();
  await fx?.close();
});
// One walkthrough of every page through a production build.
test.slow();

async function watchedPage(browser: Browser) {
  const page = await (await browser.newContext()).newPage();
  return { page, csp: await watchCsp(page) };
}

/** Admin: an OAuth template and a recipe holding it; returns the recipe's share link. */
async function publishRecipe(page: Page, name: string): Promise<string> {
  await signInAdmin(page);
  await page.goto("/admin");
  await expect(page.getByRole("heading", { name: "Admin" })).toBeVisible();
  await page.goto("/kitchen");
  await expect(page.getByRole("link", { name: "New template" })).toBeVisible();
  await page.goto("/kitchen/templates/new");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("MCP server URL").fill(fx.mcpUrl);
  await page.getByLabel("Client ID").fill("poke-csp");
  await page.getByLabel("Client secret").fill(CLIENT_SECRET);
  await page.getByLabel("Scopes").fill("mcp:read");
  await page.getByRole("button", { name: "Test" }).click();
  await page.getByRole("button", { name: "Use this issuer" }).click();
  await page.getByRole("button", { name: "Create template" }).click();
  await expect(page.getByText("Template created.")).toBeVisible();
  await page.reload();
  await expect(page.getByTestId("secret-set")).toBeVisible();
  await page.goto("/kitchen/recipes/new");
  await page.getByLabel("Recipe name").fill(`${name} recipe`);
  await page.getByLabel("Add template").selectOption({ label: `${name} (${fx.origin})` });
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("button", { name: "Create recipe" }).click();
  const shareUrl = (await page.getByTestId("share-url").textContent())!.trim();
  await page.getByRole("link", { name: "Open the recipe" }).click();
  await expect(page).toHaveURL(/\/kitchen\/recipes\/(?!new)[^/?]+$/);
  await page.reload();
  await expect(page.getByTestId("share-status")).toBeVisible();
  return shareUrl;
}

test("every page of the walkthrough has a fresh script nonce and reports no CSP violation", async ({
  browser,
  request,
  baseURL,
}) => {
  const app = new URL(baseURL!).origin;

  // A person: sign-up, an integration and its playground, activity, settings, a CLI approval, sign-in.
  const user = await watchedPage(browser);
  const email = uniqueEmail("csp");
  await signUp(user.page, email);
  await addIntegration(user.page, "Echo", mcp.url);
  await expect(user.page.getByText(/Connected to .*tools discovered/)).toBeVisible();
  await user.page.getByRole("link", { name: "Open Echo" }).click();
  await expect(user.page).toHaveURL(/\/integrations\/[^/?]+$/);
  await user.page.reload(); // loaded as a document too, not only by client-side navigation
  await user.page.getByRole("link", { name: "Playground", exact: true }).click();
  await expect(user.page).toHaveURL(/\/playground$/);
  await user.page.reload();
  await user.page.getByLabel("Tool", { exact: true }).selectOption("echo");
  await user.page.getByRole("button", { name: "Raw JSON" }).click();
  await user.page.getByLabel("Arguments (JSON)").fill('{"text": "<script>alert(1)</script>"}');
  await user.page.getByRole("button", { name: "Call echo" }).click();
  await expect(user.page.getByTestId("tool-result")).toContainText("<script>alert(1)</script>");
  await user.page.goto("/activity");
  await expect(user.page.getByRole("heading", { name: "Activity" })).toBeVisible();
  await user.page.goto("/settings");
  await user.page.getByLabel("Token name").fill("csp");
  await user.page.getByRole("button", { name: "Create token" }).click();
  await expect(user.page.getByTestId("new-token")).toHaveText(/^poke_/);
  const login = (await (await request.post("/api/cli/login", { data: { host: "csp" } })).json()) as {
    code: string;
    approveUrl: string;
  };
  const approve = new URL(login.approveUrl);
  await user.page.goto(`${approve.pathname}${approve.search}`);
  await expect(user.page.getByTestId("cli-code")).toHaveText(login.code);
  await user.page.getByRole("button", { name: "Approve" }).click();
  await expect(user.page.getByTestId("cli-approved")).toBeVisible();
  await user.page.goto("/integrations");
  await signOut(user.page);
  await user.page.getByLabel("Email").fill(email);
  await user.page.getByLabel("Password").fill(PASSWORD);
  await user.page.getByRole("button", { name: "Sign in" }).click();
  await expect(user.page.getByTestId("current-user")).toHaveText(email);

  // The admin: admin area, Kitchen template and recipe pages.
  const admin = await watchedPage(browser);
  const name = `CSP ${Date.now() % 100000}`;
  const shareUrl = await publishRecipe(admin.page, name);

  // A visitor: the recipe page, sign-up, and an install through the provider's consent page. Starting
  // OAuth is a form post answered with a redirect to the authorization server (form-action allows it).
  const visitor = await watchedPage(browser);
  const recipePath = new URL(shareUrl).pathname;
  await visitor.page.goto(recipePath);
  await expect(visitor.page.getByTestId("recipe-name")).toHaveText(`${name} recipe`);
  await visitor.page.getByRole("link", { name: "Create an account" }).click();
  await visitor.page.getByLabel("Email").fill(uniqueEmail("csp-visitor"));
  await visitor.page.getByLabel("Password").fill(PASSWORD);
  await visitor.page.getByRole("button", { name: "Sign up" }).click();
  await expect(visitor.page).toHaveURL(new RegExp(`${recipePath}$`));
  await visitor.page.getByRole("button", { name: "Install" }).click();
  await visitor.page.getByRole("button", { name: `Authorize ${name}` }).click();
  await visitor.page.getByRole("button", { name: "Approve" }).click();
  await expect(visitor.page).toHaveURL(new RegExp(`${recipePath}\\?connected=`));
  await expect(visitor.page.getByTestId("install-done")).toBeVisible();

  for (const w of [user, admin, visitor]) await w.page.context().close();
  expect([...user.csp.violations, ...admin.csp.violations, ...visitor.csp.violations]).toEqual([]);

  const pages = [...user.csp.documents, ...admin.csp.documents, ...visitor.csp.documents].filter(
    (d) => d.url.origin === app,
  );
  // Ids and share tokens are long; the fixed parts of paths are short words.
  const shape = (path: string) => path.replace(/\/[A-Za-z0-9_-]{16,}/g, "/:id");
  const visited = new Set(pages.map((d) => shape(d.url.pathname)));
  for (const path of [
    "/sign-up",
    "/sign-in",
    "/integrations",
    "/integrations/:id",
    "/activity",
    "/settings",
    "/cli/approve",
    "/admin",
    "/kitchen",
    "/kitchen/templates/new",
    "/kitchen/templates/:id",
    "/kitchen/recipes/new",
    "/kitchen/recipes/:id",
    "/r/:id",
  ]) {
    expect([...visited], path).toContain(path);
  }
  const nonces: string[] = [];
  for (const d of pages) {
    const where = `${d.url.pathname} (${d.status})`;
    expect(d.policy, where).toContain("frame-ancestors 'none'");
    // The OAuth start and callback answer with redirects: a static policy, no page to run scripts in.
    if (d.url.pathname.startsWith("/api/")) {
      expect(d.policy, where).toContain("default-src 'none'");
      continue;
    }
    const nonce = /script-src 'self' 'nonce-([A-Za-z0-9+/=]{22,})' 'strict-dynamic'/.exec(d.policy)?.[1];
    expect(nonce, `${where}: ${d.policy}`).toBeTruthy();
    nonces.push(nonce!);
    for (const directive of [
      "frame-ancestors 'none'",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ])
      expect(d.policy, where).toContain(directive);
    expect(d.policy, where).not.toContain("'unsafe-inline'");
  }
  expect(new Set(nonces).size).toBe(nonces.length);
});

test("an injected event handler or javascript: link does not run, and the browser reports it", async ({
  page,
}) => {
  const csp = await watchCsp(page);
  await page.goto("/sign-in");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  // What a markup injection would add: an inline event handler and a javascript: link, both without the nonce.
  await page.evaluate(() => {
    document.body.insertAdjacentHTML(
      "beforeend",
      '<img alt="" src="data:," onerror="window.__injected = 1"><a id="injected" href="javascript:window.__injected = 2">x</a>',
    );
  });
  await page.locator("#injected").click();
  await expect
    .poll(() => csp.violations.filter((v) => !v.startsWith("console:")).length)
    .toBeGreaterThanOrEqual(2);
  expect(
    await page.evaluate(() => (window as unknown as { __injected?: number }).__injected),
  ).toBeUndefined();
  // The page itself still works: its own (nonced) scripts ran and hydrated the form.
  await page.getByLabel("Email").fill("nobody@e2e.test");
  await page.getByLabel("Password").fill("wrong password here");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByText(/Wrong email or password|try again in/)).toBeVisible();
});
