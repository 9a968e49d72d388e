import { expect, test } from "@playwright/test";
import { alertOf, createApiToken, signUp, uniqueEmail } from "./helpers";

test("create an API token, use it, see it used, revoke it", async ({ page, request }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  const token = await createApiToken(page, "laptop CLI");

  const me = await request.get("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).email).toBe(email);

  await page.reload();
  const row = page.getByTestId("token-row").filter({ hasText: "laptop CLI" });
  await expect(row).toContainText(token.slice(0, 11));
  await expect(row).not.toContainText(token); // shown once, never again
  await expect(row.locator("td").nth(3)).not.toHaveText("never");

  page.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: "Revoke laptop CLI" }).click();
  await expect(page.getByTestId("token-row").filter({ hasText: "laptop CLI" })).toHaveCount(0);

  const after = await request.get("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });
  expect(after.status()).toBe(401);
  expect((await after.json()).error.code).toBe("token_revoked");
});

test("bad tokens and unknown routes get clear JSON errors", async ({ request }) => {
  const none = await request.get("/api/v1/me");
  expect(none.status()).toBe(401);
  expect((await none.json()).error.message).toContain("Bearer");
  const bogus = await request.get("/api/v1/me", { headers: { Authorization: "Bearer poke_nope" } });
  expect(bogus.status()).toBe(401);
  expect((await bogus.json()).error.code).toBe("invalid_token");
  const unknown = await request.get("/api/v1/does-not-exist");
  expect(unknown.status()).toBe(404);
  expect((await unknown.json()).error.code).toBe("not_found");
});

test("token expiry is validated in the form", async ({ page }) => {
  await signUp(page, uniqueEmail());
  await page.goto("/settings");
  await page.getByLabel("Token name").fill("short-lived");
  await page.getByLabel("Expires in (days)").fill("99999");
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(alertOf(page)).toContainText("3650");
  await expect(page.getByTestId("new-token")).toHaveCount(0);
});
