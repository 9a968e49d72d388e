import { expect, test } from "@playwright/test";
import { signInAdmin, signUp, uniqueEmail } from "./helpers";

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

  // Promote: the role is read from the database on the very next request, no new sign-in.
  await adminPage.reload();
  await adminPage.getByRole("button", { name: `Make admin: ${email}` }).click();
  await expect(adminPage.getByRole("button", { name: `Remove admin: ${email}` })).toBeVisible();
  expect((await userPage.goto("/admin"))?.status()).toBe(200);

  // Demote again: access is gone at once.
  await adminPage.getByRole("button", { name: `Remove admin: ${email}` }).click();
  await expect(adminPage.getByRole("button", { name: `Make admin: ${email}` })).toBeVisible();
  expect((await userPage.goto("/admin"))?.status()).toBe(404);
});
