import { expect, test } from "@playwright/test";
import { signIn, signInAdmin, signUp, uniqueEmail } from "./helpers";

test("admins reach the admin area; other users get not found, server-side", async ({ browser }) => {
  const adminPage = await (await browser.newContext()).newPage();
  await signInAdmin(adminPage);
  await adminPage.goto("/admin");
  await expect(adminPage.getByRole("heading", { name: "Admin" })).toBeVisible();
  await expect(adminPage.getByRole("link", { name: "Admin" })).toBeVisible();

  const userPage = await (await browser.newContext()).newPage();
  const email = uniqueEmail("member");
  await signUp(userPage, email);
  await expect(userPage.getByRole("link", { name: "Admin" })).toHaveCount(0);
  const res = await userPage.goto("/admin");
  expect(res?.status()).toBe(404);
  await expect(userPage.getByText("Page not found")).toBeVisible();

  // Promote: a role change ends the person's sessions (docs/security.md §26); signed in again, they are admin.
  await adminPage.reload();
  await adminPage.getByRole("button", { name: `Make admin: ${email}` }).click();
  await expect(adminPage.getByRole("button", { name: `Remove admin: ${email}` })).toBeVisible();
  await userPage.goto("/admin");
  await expect(userPage).toHaveURL(/\/sign-in/);
  await signIn(userPage, email);
  expect((await userPage.goto("/admin"))?.status()).toBe(200);

  // Demote again: signed out at once, and no admin access after signing in again.
  await adminPage.getByRole("button", { name: `Remove admin: ${email}` }).click();
  await expect(adminPage.getByRole("button", { name: `Make admin: ${email}` })).toBeVisible();
  await userPage.goto("/admin");
  await expect(userPage).toHaveURL(/\/sign-in/);
  await signIn(userPage, email);
  expect((await userPage.goto("/admin"))?.status()).toBe(404);
});
