import { expect, test } from "@playwright/test";
import { PASSWORD, signOut, signUp, uniqueEmail } from "./helpers";

test("poke login: a signed-out person signs in and lands back on the approval, which hands the CLI a token", async ({
  page,
  request,
}) => {
  const email = uniqueEmail();
  await signUp(page, email);
  await signOut(page);

  // What `poke login` does first: start a login and print the approval link.
  const start = await request.post("/api/cli/login", { data: { host: "laptop" } });
  expect(start.status()).toBe(201);
  const login = (await start.json()) as { code: string; pollToken: string; approveUrl: string };
  const approve = new URL(login.approveUrl);

  await page.goto(`${approve.pathname}${approve.search}`);
  await expect(page).toHaveURL(/\/sign-in\?callbackUrl=/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();

  await expect(page).toHaveURL(/\/cli\/approve\?code=/);
  await expect(page.getByTestId("cli-code")).toHaveText(login.code);
  const pending = await request.post("/api/cli/login/poll", { data: { pollToken: login.pollToken } });
  expect(pending.status()).toBe(202);
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByTestId("cli-approved")).toBeVisible();

  const done = await request.post("/api/cli/login/poll", { data: { pollToken: login.pollToken } });
  expect(done.status()).toBe(200);
  const body = (await done.json()) as { token: string; email: string };
  expect(body.email).toBe(email);
  const me = await request.get("/api/v1/me", { headers: { authorization: `Bearer ${body.token}` } });
  expect(me.status()).toBe(200);
});
