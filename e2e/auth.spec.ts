import { expect, test } from "@playwright/test";
import { alertOf, PASSWORD, signIn, signOut, signUp, uniqueEmail } from "./helpers";

test("sign up, sign out, sign in again", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await expect(page).toHaveURL(/\/integrations/);
  await signOut(page);
  await page.goto("/integrations");
  await expect(page).toHaveURL(/\/sign-in/);
  await signIn(page, email);
});

test("clear messages for a duplicate email, a weak password and a wrong password", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await signOut(page);

  await page.goto("/sign-up");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(alertOf(page)).toContainText("already exists");

  await page.getByLabel("Email").fill(uniqueEmail());
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(alertOf(page)).toContainText("at least 10 characters");

  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not the right password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(alertOf(page)).toHaveText("Wrong email or password.");
  await expect(page).toHaveURL(/\/sign-in/);
});

test("a sign-in return path cannot leave the site", async ({ page }) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await signOut(page);
  await page.goto("/sign-in?callbackUrl=" + encodeURIComponent("https://evil.example/"));
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/localhost:\d+\/integrations/);
});
