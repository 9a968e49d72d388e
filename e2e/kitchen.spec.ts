// Kitchen in a real browser: an admin publishes a server whose authorization server has no dynamic
// registration (template with client credentials) in a recipe; another person opens the link, signs up,
// installs, approves on the provider's consent page, and ends connected with tools listed.
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { startOAuthServer, type OAuthFixture } from "../test/fixtures/oauth-servers";
import { alertOf, signInAdmin, signUp, uniqueEmail } from "./helpers";

const CLIENT_SECRET = "kitchen-e2e-secret-value";
let fx: OAuthFixture;

test.beforeAll(async () => {
  fx = await startOAuthServer({
    dcr: false,
    clients: [
      {
        client_id: "poke-kitchen",
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    consent: "page",
  });
});
test.afterAll(async () => {
  await fx?.close();
});
// Each test walks several pages (admin setup included) through a production build.
test.slow();

async function newPage(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage();
}

/** Admin: template (Test first) → recipe; returns ids and the share link as shown once. */
async function publish(page: Page, name: string) {
  await signInAdmin(page);
  await page.goto("/kitchen");
  await page.getByRole("link", { name: "New template" }).click();
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("MCP server URL").fill(fx.mcpUrl);
  await page.getByLabel("Client ID").fill("poke-kitchen");
  await page.getByLabel("Client secret").fill(CLIENT_SECRET);
  await page.getByLabel("Scopes").fill("mcp:read");

  // Test reports what the authorization server offers, without saving anything.
  await page.getByRole("button", { name: "Test" }).click();
  const findings = page.getByTestId("as-findings");
  await expect(findings).toContainText(fx.issuer);
  await expect(page.getByTestId("finding-dcr")).toHaveText("no");
  await expect(page.getByTestId("finding-pkce")).toHaveText("yes");
  await page.getByRole("button", { name: "Use this issuer" }).click();
  await expect(page.getByLabel("Issuer the credentials are bound to")).toHaveValue(fx.issuer);

  await page.getByRole("button", { name: "Create template" }).click();
  await expect(page.getByText("Template created.")).toBeVisible();
  const templateId = page.url().match(/\/kitchen\/templates\/([^/?]+)/)![1];
  await expect(page.getByTestId("secret-set")).toBeVisible();
  // Write-only: the secret is in no field and nowhere on the page.
  await expect(page.getByLabel("Replace client secret")).toHaveValue("");
  expect(await page.content()).not.toContain(CLIENT_SECRET);

  await page.goto("/kitchen/recipes/new");
  await page.getByLabel("Recipe name").fill(`${name} recipe`);
  await page.getByRole("button", { name: "Create recipe" }).click();
  await expect(alertOf(page)).toHaveText("Add at least one template to the recipe");
  await page.getByLabel("Add template").selectOption({ label: `${name} (${fx.origin})` });
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("button", { name: "Create recipe" }).click();
  const shareUrl = (await page.getByTestId("share-url").textContent())!.trim();
  expect(shareUrl).toMatch(/\/r\/rcp_[A-Za-z0-9_-]{43}$/);
  await page.getByRole("link", { name: "Open the recipe" }).click();
  const recipeId = page.url().match(/\/kitchen\/recipes\/([^/?]+)/)![1];
  return { templateId, recipeId, shareUrl };
}

test("admin publishes a recipe; a new user previews, signs up, installs with OAuth consent and gets tools", async ({
  page,
  browser,
}) => {
  const name = `Docs ${Date.now() % 100000}`;
  const { shareUrl } = await publish(page, name);
  const path = new URL(shareUrl).pathname;

  const visitor = await newPage(browser);
  // Preview: no sign-in needed; the exact origin and scopes are shown before anything happens.
  await visitor.goto(path);
  await expect(visitor.getByTestId("recipe-name")).toHaveText(`${name} recipe`);
  await expect(visitor.getByTestId("item-origin")).toHaveText(fx.origin);
  await expect(visitor.getByTestId("item-scopes")).toContainText("mcp:read");
  const authorizations = fx.stats.authorizations;

  await visitor.getByRole("link", { name: "Create an account" }).click();
  const email = uniqueEmail("kitchen");
  await visitor.getByLabel("Email").fill(email);
  await visitor.getByLabel("Password").fill("correct horse battery staple");
  await visitor.getByRole("button", { name: "Sign up" }).click();
  await expect(visitor).toHaveURL(new RegExp(`${path}$`));
  await expect(visitor.getByTestId("current-user")).toHaveText(email);

  await visitor.getByRole("button", { name: "Install" }).click();
  await expect(visitor.getByTestId("install-item-status")).toHaveText("waiting for you");
  expect(fx.stats.authorizations).toBe(authorizations);
  await visitor.getByRole("button", { name: `Authorize ${name}` }).click();

  // The provider's own consent page.
  await expect(visitor.getByRole("button", { name: "Approve" })).toBeVisible();
  await visitor.getByRole("button", { name: "Approve" }).click();

  // Back on the recipe page: the install is complete.
  await expect(visitor).toHaveURL(new RegExp(`${path}\\?connected=`));
  await expect(visitor.getByTestId("install-done")).toBeVisible();
  await expect(visitor.getByTestId("install-item-status")).toHaveText("connected");
  expect(fx.stats.registrations).toBe(0);

  // The integration is connected with its tools; a second visit changes nothing.
  await visitor.goto("/integrations");
  await visitor.getByTestId("integration-card").first().click();
  await expect(visitor.getByTestId("integration-status").first()).toHaveText("connected");
  await expect(visitor.getByTestId("tool-item").first()).toBeVisible();
  await visitor.goto(path);
  await expect(visitor.getByTestId("install-item-status")).toHaveText("connected");
  await visitor.goto("/integrations");
  await expect(visitor.getByTestId("integration-card")).toHaveCount(1);
  await expect(visitor.getByTestId("integration-card")).toContainText(name);
  await visitor.context().close();
});

test("rotating the link invalidates the old one; disabling shows the invalid-link page", async ({
  page,
  browser,
}) => {
  const name = `Rot ${Date.now() % 100000}`;
  const { shareUrl } = await publish(page, name);
  page.on("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Rotate link" }).click();
  const rotated = (await page.getByTestId("share-url").textContent())!.trim();
  expect(rotated).not.toBe(shareUrl);

  const visitor = await newPage(browser);
  const old = await visitor.goto(new URL(shareUrl).pathname);
  expect(old?.status()).toBe(404);
  await expect(visitor.getByRole("heading", { name: "This link is not valid" })).toBeVisible();
  const fresh = await visitor.goto(new URL(rotated).pathname);
  expect(fresh?.status()).toBe(200);
  await expect(visitor.getByTestId("recipe-name")).toHaveText(`${name} recipe`);

  await page.getByRole("button", { name: "Disable link" }).click();
  await expect(page.getByTestId("share-status")).toContainText("link disabled");
  expect((await visitor.goto(new URL(rotated).pathname))?.status()).toBe(404);
  await visitor.context().close();
});

test("a template with a private key instead of a secret shows only the key's public half", async ({
  page,
}) => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  await signInAdmin(page);
  await page.goto("/kitchen");
  await page.getByRole("link", { name: "New template" }).click();
  await page.getByLabel("Name", { exact: true }).fill(`Keyed ${Date.now()}`);
  await page.getByLabel("MCP server URL").fill(fx.mcpUrl);
  await page.getByLabel("Client ID").fill("poke-kitchen-key");
  await page.getByLabel("Client secret").fill("also-a-secret");
  await page.getByLabel("Private key (instead of a secret)").fill(pem);
  await page.getByRole("button", { name: "Create template" }).click();
  // said at the field and in the banner by the Save button
  await expect(alertOf(page)).toContainText(/a secret or with a private key, not both/);
  await expect(page.getByText(/a secret or with a private key, not both/)).toHaveCount(2);
  await page.getByLabel("Client secret").fill("");
  await page.getByRole("button", { name: "Create template" }).click();
  await expect(page.getByText("Template created.")).toBeVisible();
  await expect(page.getByTestId("key-set")).toBeVisible();
  const jwk = JSON.parse((await page.getByTestId("public-jwk").textContent())!);
  expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
  expect(jwk.d).toBeUndefined();
  expect(jwk.x).toBe(createPublicKey(privateKey).export({ format: "jwk" }).x);
  // Write-only: the private key is in no field and nowhere on the page.
  await expect(page.getByLabel("Replace private key")).toHaveValue("");
  expect(await page.content()).not.toContain(pem.split("\n")[1]);
});

test("a non-admin gets 404 at every Kitchen page", async ({ page, browser }) => {
  const { templateId, recipeId } = await publish(page, `Guard ${Date.now() % 100000}`);
  const user = await newPage(browser);
  await signUp(user, uniqueEmail("nonadmin"));
  await expect(user.getByRole("link", { name: "Kitchen" })).toHaveCount(0);
  for (const path of [
    "/kitchen",
    "/kitchen/templates/new",
    `/kitchen/templates/${templateId}`,
    "/kitchen/recipes/new",
    `/kitchen/recipes/${recipeId}`,
  ]) {
    const res = await user.goto(path);
    expect(res?.status(), path).toBe(404);
    await expect(user.getByRole("heading", { name: "Page not found" })).toBeVisible();
  }
  await user.context().close();
});
