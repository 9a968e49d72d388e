// Sessions end server-side (docs/security.md §26): a second browser holding the same person's session is
// signed out by "Sign out everywhere", by ending its session from the list, by a password change made
// elsewhere and by an admin changing the person's role; a cookie kept from before sign-out opens nothing.
// And the sign-in form says how long to wait once an account has had too many wrong passwords (§25).
import { expect, test, type Browser, type Page } from "@playwright/test";
import { alertOf, PASSWORD, signIn, signInAdmin, signOut, signUp, uniqueEmail } from "./helpers";

async function secondBrowser(browser: Browser, email: string, password = PASSWORD): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await signIn(page, email, password);
  return page;
}

/** The page, reloaded until it lands on sign-in (the other browser's action may still be finishing). */
async function expectSignedOut(page: Page) {
  await expect(async () => {
    await page.goto("/settings");
    await expect(page).toHaveURL(/\/sign-in/, { timeout: 5_000 });
  }).toPass();
}

test("Sign out everywhere ends every session, this one included", async ({ page, browser }) => {
  const email = uniqueEmail("everywhere");
  await signUp(page, email);
  const other = await secondBrowser(browser, email);
  await page.goto("/settings");
  await expect(page.getByTestId("session-row")).toHaveCount(2);
  await expect(page.getByText("(this device)")).toHaveCount(1);
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(page).toHaveURL(/\/sign-in/);
  await expectSignedOut(page);
  await expectSignedOut(other);
  await other.context().close();
});

test("ending one session from the list signs that browser out, not this one", async ({ page, browser }) => {
  const email = uniqueEmail("endone");
  await signUp(page, email);
  const other = await secondBrowser(browser, email);
  await page.goto("/settings");
  await expect(page.getByTestId("session-row")).toHaveCount(2);
  await page.getByRole("button", { name: /^End session:/ }).click();
  await expect(page.getByTestId("session-row")).toHaveCount(1);
  await expectSignedOut(other);
  await page.goto("/settings");
  await expect(page.getByTestId("current-user")).toHaveText(email);
  await other.context().close();
});

test("a password change signs out the other sessions and keeps this one", async ({ page, browser }) => {
  const email = uniqueEmail("newpass");
  const next = "a brand new passphrase";
  await signUp(page, email);
  const other = await secondBrowser(browser, email);
  await page.goto("/settings");
  await page.getByLabel("Current password").fill("not my password at all");
  await page.getByLabel("New password").fill(next);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(alertOf(page)).toHaveText("The current password is wrong");
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill(next);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("Password changed. Your other sessions were signed out.")).toBeVisible();
  await expectSignedOut(other);
  await page.reload();
  await expect(page.getByTestId("current-user")).toHaveText(email);
  await signIn(other, email, next);
  await other.context().close();
});

test("an admin changing a person's role signs that person out", async ({ page, browser }) => {
  const email = uniqueEmail("promoted");
  const person = await (await browser.newContext()).newPage();
  await signUp(person, email);
  await signInAdmin(page);
  await page.goto("/admin");
  const row = page.getByTestId("user-row").filter({ hasText: email });
  // The very first account of a fresh database is an admin already: toggle whichever way applies.
  const before = (await row.getByRole("cell").nth(2).textContent())?.trim();
  const after = before === "admin" ? "user" : "admin";
  await row.getByRole("button", { name: `${after === "admin" ? "Make" : "Remove"} admin: ${email}` }).click();
  await expectSignedOut(person);
  await page.reload();
  await expect(row.getByRole("cell").nth(2)).toHaveText(after);
  // They sign in again, with the new role.
  await signIn(person, email);
  await person.context().close();
});

test("a session cookie kept from before sign-out opens nothing", async ({ page, browser }) => {
  const email = uniqueEmail("signout");
  await signUp(page, email);
  const kept = await page.context().cookies();
  await signOut(page);
  const thief = await browser.newContext();
  await thief.addCookies(kept);
  const tp = await thief.newPage();
  await tp.goto("/settings");
  await expect(tp).toHaveURL(/\/sign-in/);
  await thief.close();
});

test("guessing the current password in Settings is throttled like sign-in", async ({ page }) => {
  const email = uniqueEmail("guesser");
  await signUp(page, email);
  await page.goto("/settings");
  const submit = page.getByRole("button", { name: "Change password" });
  for (let i = 0; i < 5; i++) {
    await page.getByLabel("Current password").fill(`guess number ${i}`);
    await page.getByLabel("New password").fill("a brand new passphrase");
    const answered = page.waitForResponse(
      (r) => r.request().method() === "POST" && r.url().includes("/settings"),
    );
    await submit.click();
    await answered;
    await expect(alertOf(page)).toHaveText("The current password is wrong");
  }
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill("a brand new passphrase");
  await submit.click();
  await expect(alertOf(page)).toHaveText(/^Too many attempts, try again in \d+ s\.$/);
});

test("too many wrong passwords: the sign-in form says how long to wait", async ({ page }) => {
  const email = uniqueEmail("throttled");
  await signUp(page, email);
  await signOut(page);
  for (let i = 0; i < 5; i++) {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(`wrong password ${i}`);
    const answered = page.waitForResponse((r) => r.url().includes("/api/auth/callback/credentials"));
    await page.getByRole("button", { name: "Sign in" }).click();
    expect((await answered).status()).toBe(401);
    await expect(alertOf(page)).toHaveText("Wrong email or password.");
  }
  await page.getByLabel("Password").fill(PASSWORD);
  const answered = page.waitForResponse((r) => r.url().includes("/api/auth/callback/credentials"));
  await page.getByRole("button", { name: "Sign in" }).click();
  expect((await answered).status()).toBe(429);
  await expect(alertOf(page)).toHaveText(/^Too many attempts, try again in \d+ s\.$/);
  await expect(page).toHaveURL(/\/sign-in/);
});
