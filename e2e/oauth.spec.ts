import { expect, test, type Page } from "@playwright/test";
import { startOAuthServer, type OAuthFixture } from "../test/fixtures/oauth-servers";
import { addIntegration, alertOf, signUp, uniqueEmail } from "./helpers";

// Each test has an authorization server of its own: what one test revokes or counts, no other sees.
let as: OAuthFixture;

test.beforeEach(async () => {
  as = await startOAuthServer({ dcr: true, consent: "page", accessTokenTtlSec: 600, separateOrigins: true });
});
test.afterEach(async () => {
  await as?.close();
});

async function approve(page: Page) {
  await expect(page.getByRole("button", { name: "Approve" })).toBeVisible();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page).toHaveURL(/\/integrations\/[\w-]+\?connected=1/);
}

/** Calls echo in the integration's playground (opened from its page, or already open). */
async function callEcho(page: Page, text: string) {
  if (!/\/playground/.test(page.url()))
    await page.getByRole("link", { name: "Playground", exact: true }).click();
  await page.getByLabel("Tool", { exact: true }).selectOption("echo");
  await page.getByLabel("text", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Call echo" }).click();
}

test("OAuth with dynamic registration: consent, tools, silent refresh, reconnect after revocation", async ({
  page,
}) => {
  await signUp(page, uniqueEmail());
  await addIntegration(page, "Protected", as.mcpUrl);
  await expect(page.getByText("This server requires authorization (OAuth).")).toBeVisible();
  await page.getByRole("link", { name: "Open Protected" }).click();
  await expect(page.getByTestId("integration-status")).toHaveText("needs authorization");

  // Authorize → the authorization server's consent page → back, connected, tools listed.
  await page.getByRole("button", { name: "Authorize" }).click();
  await expect(page).toHaveURL(new RegExp(`^${as.issuer.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  await approve(page);
  await expect(page.getByText("Authorized and connected.")).toBeVisible();
  await expect(page.getByTestId("integration-status")).toHaveText("connected");
  await expect(page.getByTestId("auth-state")).toHaveText("OAuth — authorized");
  await expect(page.getByTestId("tool-item").filter({ hasText: "echo" }).first()).toBeVisible();
  expect(as.stats.registrations).toBe(1);

  // The access token expires: the next call still succeeds because the grant is refreshed.
  as.expireAllAccessTokens();
  const refreshes = as.stats.refreshRequests;
  await callEcho(page, "after expiry");
  await expect(page.getByTestId("tool-result")).toContainText("after expiry");
  expect(as.stats.refreshRequests).toBe(refreshes + 1);

  // The grant is gone at the server: the integration asks for a reconnect, which works.
  as.revokeAllRefreshTokens();
  as.expireAllAccessTokens();
  await callEcho(page, "after revocation");
  await expect(alertOf(page)).toContainText(/reconnect/i);
  await page.goto(page.url().replace(/\/playground.*$/, ""));
  await expect(page.getByTestId("integration-status")).toHaveText("reconnect needed");
  await page.getByRole("button", { name: "Reconnect" }).click();
  await approve(page);
  await expect(page.getByTestId("integration-status")).toHaveText("connected");
  await callEcho(page, "reconnected");
  await expect(page.getByTestId("tool-result")).toContainText("reconnected");
  expect(as.stats.registrations).toBe(1); // the registration is reused
});

test("denying consent leaves the integration waiting with a clear message", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await addIntegration(page, "Denied", as.mcpUrl);
  await page.getByRole("link", { name: "Open Denied" }).click();
  await page.getByRole("button", { name: "Authorize" }).click();
  await page.getByRole("button", { name: "Deny" }).click();
  await expect(page).toHaveURL(/oauth_error=/);
  await expect(alertOf(page).first()).toContainText(/denied/i);
  await expect(page.getByTestId("integration-status")).toHaveText("needs authorization");
});

test("a tool that needs more access: the server's 403 asks for it and Grant access widens the grant", async ({
  page,
}) => {
  // The resource advertises only mcp:read, so that is what the first authorization asks for; echo needs more.
  const scoped = await startOAuthServer({
    consent: "page",
    prmScopes: ["mcp:read"],
    toolScopes: { echo: "mcp:write" },
  });
  try {
    await signUp(page, uniqueEmail());
    await addIntegration(page, "Scoped", scoped.mcpUrl);
    await page.getByRole("link", { name: "Open Scoped" }).click();
    await page.getByRole("button", { name: "Authorize" }).click();
    await expect(page.locator("#scopes")).toHaveText("mcp:read");
    await approve(page);

    await callEcho(page, "needs write");
    await expect(alertOf(page)).toContainText(/needs more access.*mcp:write/);
    await page.goto(page.url().replace(/\/playground.*$/, ""));
    await expect(page.getByTestId("step-up")).toContainText("mcp:write");
    await expect(page.getByTestId("integration-status")).toHaveText("connected");

    await page.getByRole("button", { name: "Grant access" }).click();
    await expect(page.locator("#scopes li")).toHaveText(["mcp:read", "mcp:write"]);
    await approve(page);
    await expect(page.getByTestId("step-up")).toHaveCount(0);
    await callEcho(page, "with write");
    await expect(page.getByTestId("tool-result")).toContainText("with write");
  } finally {
    await scoped.close();
  }
});
