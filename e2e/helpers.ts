import { expect, type Locator, type Page } from "@playwright/test";
import { randomBytes } from "node:crypto";

export const PASSWORD = "correct horse battery staple";
export const ADMIN = { email: "admin@e2e.test", password: PASSWORD };

export function uniqueEmail(tag = "user"): string {
  return `${tag}-${randomBytes(4).toString("hex")}@e2e.test`;
}

export async function signUp(page: Page, email: string, password = PASSWORD, returnTo?: string) {
  await page.goto(returnTo ? `/sign-up?callbackUrl=${encodeURIComponent(returnTo)}` : "/sign-up");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page.getByTestId("current-user")).toHaveText(email);
}

export async function signIn(page: Page, email: string, password = PASSWORD) {
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("current-user")).toHaveText(email);
}

export async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(page).toHaveURL(/\/sign-in/);
}

/** Signs in as the admin (ADMIN_EMAILS), creating the account on first use. */
export async function signInAdmin(page: Page) {
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  // Signed in, or told the account does not exist yet: whichever the page shows, however long it takes.
  const signedIn = page.getByTestId("current-user");
  await expect(signedIn.or(page.getByText("Wrong email or password."))).toBeVisible();
  if (!(await signedIn.isVisible())) await signUp(page, ADMIN.email, ADMIN.password);
}

/** Adds an integration on the Integrations page (the page then shows how connecting went). */
export async function addIntegration(page: Page, name: string, url: string, apiKey?: string) {
  await page.goto("/integrations");
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("MCP server URL").fill(url);
  if (apiKey) await page.getByLabel("API key (optional)").fill(apiKey);
  await page.getByRole("button", { name: "Add integration" }).click();
}

/** Creates an API token in Settings and returns it (as shown once). */
export async function createApiToken(page: Page, name: string): Promise<string> {
  await page.goto("/settings");
  await page.getByLabel("Token name").fill(name);
  await page.getByRole("button", { name: "Create token" }).click();
  const token = (await page.getByTestId("new-token").textContent())?.trim() ?? "";
  expect(token).toMatch(/^poke_/);
  return token;
}

/** The page's own alert (Next.js adds an empty route announcer with the same role). */
export function alertOf(page: Page): Locator {
  return page.locator('[role="alert"]:not(#__next-route-announcer__)');
}

/**
 * Watches a page for Content-Security-Policy violations on every document it loads: the browser's
 * `securitypolicyviolation` events and its console reports. Also records each document's policy header.
 */
export async function watchCsp(page: Page) {
  const violations: string[] = [];
  const documents: { url: URL; status: number; policy: string }[] = [];
  await page.exposeBinding("__reportCspViolation", (_source, text: string) => void violations.push(text));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      const report = (window as unknown as { __reportCspViolation: (t: string) => void })
        .__reportCspViolation;
      void report(
        `${location.pathname}: ${e.effectiveDirective} blocked ${e.blockedURI || "an inline script or style"}`,
      );
    });
  });
  page.on("console", (m) => {
    if (/content security policy/i.test(m.text())) violations.push(`console: ${m.text()}`);
  });
  page.on("response", (res) => {
    const req = res.request();
    if (req.resourceType() !== "document" || req.frame() !== page.mainFrame()) return;
    const url = new URL(res.url());
    documents.push({ url, status: res.status(), policy: res.headers()["content-security-policy"] ?? "" });
  });
  return { violations, documents };
}
