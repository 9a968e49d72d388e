// The real `poke` CLI against the real app: login (token and browser approval), whoami, logout and
// `mcp add/list/sync/remove` with real fixture servers, exit codes included.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "@playwright/test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import {
  cliEnv,
  freePort,
  LiveCli,
  PASSWORD,
  runCli,
  startApp,
  tempConfigHome,
  writeLogin,
  type App,
} from "./cli-helpers";

let app: App;
const servers: McpFixture[] = [];

/** A fixture server of the test's own (closed after the file). */
async function server(opts: Parameters<typeof startMcpServer>[0] = {}): Promise<McpFixture> {
  const s = await startMcpServer(opts);
  servers.push(s);
  return s;
}

/** The CLI environment of `name`, logged in with its API token. */
function loggedIn(name: string): NodeJS.ProcessEnv {
  const home = tempConfigHome();
  writeLogin(home, app, app.users[name]);
  return cliEnv(home);
}

beforeAll(async () => {
  // One user per test (PGlite: users are seeded before the app starts).
  app = await startApp(["alice", "bob", "adder", "keyholder", "nobody", "lister", "owner", "stranger"]);
});

afterAll(async () => {
  await app?.stop();
  await Promise.all(servers.map((s) => s.close()));
});

describe("poke login / whoami / logout", () => {
  it("logs in with --token, stores the credentials 0600, and whoami/logout work", async () => {
    const home = tempConfigHome();
    const env = cliEnv(home);
    const r = await runCli(["login", "--url", app.url, "--token", app.users.alice.token], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`as ${app.users.alice.email}`);
    const file = path.join(home, "poke", "credentials.json");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({ url: app.url, token: app.users.alice.token });

    const me = await runCli(["whoami"], env);
    expect(me.code).toBe(0);
    expect(me.stdout).toContain(app.users.alice.email);

    expect((await runCli(["logout"], env)).code).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
    const after = await runCli(["whoami"], env);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/Not logged in/);
  });

  it("refuses a wrong token (exit 1) and reports usage errors (exit 2)", async () => {
    const env = cliEnv(tempConfigHome());
    const bad = await runCli(["login", "--url", app.url, "--token", "poke_not_a_real_token"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Invalid API token/);
    expect((await runCli(["mcp", "add", "http://x.test/mcp"], env)).code).toBe(2);
    expect((await runCli(["frobnicate"], env)).code).toBe(2);
    for (const cmd of [["login"], ["mcp", "add"], ["tunnel"], ["proxy"], ["whoami"], ["logout"], ["mcp"]]) {
      const h = await runCli([...cmd, "--help"], env);
      expect(h.code, cmd.join(" ")).toBe(0);
      expect(h.stdout, cmd.join(" ")).toMatch(/Usage: poke/);
    }
  });

  it("logs in through the browser: the signed-in person approves the code", async () => {
    const home = tempConfigHome();
    const cli = new LiveCli(["login", "--url", app.url], cliEnv(home));
    const [, code] = await cli.waitFor(/approve the code ([A-Z0-9]{4}-[A-Z0-9]{4})/);
    const [approveUrl] = await cli.waitFor(/http\S+\/cli\/approve\?\S+/);
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(120_000); // a loaded machine renders slowly
      await page.goto(`${app.url}/sign-in`);
      await page.getByLabel("Email").fill(app.users.bob.email);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByTestId("current-user").waitFor();
      await page.goto(approveUrl);
      expect(await page.getByTestId("cli-code").textContent()).toBe(code);
      await page.getByRole("button", { name: "Approve" }).click();
      await page.getByTestId("cli-approved").waitFor();
    } finally {
      await browser.close();
    }
    await cli.waitFor(new RegExp(`Logged in to .* as ${app.users.bob.email.replace(/[.+]/g, "\\$&")}`));
    expect(await cli.exited).toBe(0);
    const stored = JSON.parse(fs.readFileSync(path.join(home, "poke", "credentials.json"), "utf8"));
    expect(stored.token).toMatch(/^poke_/);
    const me = await runCli(["whoami"], cliEnv(home));
    expect(me.stdout).toContain(app.users.bob.email);
    // The code is single-use: the approval page now says so.
    const again = await fetch(`${app.url}/api/cli/login/poll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pollToken: "pokepoll_unknown" }),
    });
    expect(again.status).toBe(404);
  });
});

describe("poke mcp", () => {
  it("adds a no-auth server and prints the tools", async () => {
    const plain = await server();
    const r = await runCli(["mcp", "add", plain.url, "-n", "plain"], loggedIn("adder"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Connected "plain"/);
    expect(r.stdout).toMatch(/\d+ tools · added: .*echo/);
  });

  it("adds a server with an API key (-k), and a wrong key fails with the specific error (exit 1)", async () => {
    const keyed = await server({ apiKey: "sk_fixture_key" });
    const env = loggedIn("keyholder");
    const ok = await runCli(["mcp", "add", keyed.url, "-n", "keyed", "-k", "sk_fixture_key"], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(keyed.requests.some((q) => q.headers.authorization === "Bearer sk_fixture_key")).toBe(true);
    const bad = await runCli(["mcp", "add", keyed.url, "-n", "keyed-bad", "-k", "wrong"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/401.*API key/);
  });

  it("a URL where nothing answers → exit 1 and an actionable message", async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const r = await runCli(["mcp", "add", url, "-n", "nothing"], loggedIn("nobody"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the connection/);
  });

  it("lists, syncs (prints the diff) and removes by name", async () => {
    const plain = await server();
    const env = loggedIn("lister");
    expect((await runCli(["mcp", "add", plain.url, "-n", "plain"], env)).code).toBe(0);
    const list = await runCli(["mcp", "list"], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+STATUS\s+TOOLS\s+URL/m);
    expect(list.stdout).toMatch(/^plain\s+connected\s+\d+/m);

    plain.addTool("brand_new");
    const sync = await runCli(["mcp", "sync", "plain"], env);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toMatch(/added: brand_new/);
    const json = await runCli(["mcp", "sync", "plain", "--json"], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ added: [], removed: [], changed: [] });

    expect((await runCli(["mcp", "remove", "plain"], env)).code).toBe(0);
    const gone = await runCli(["mcp", "sync", "plain"], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/No integration named/);
  });

  it("another user's integrations are invisible", async () => {
    const owner = loggedIn("owner");
    expect((await runCli(["mcp", "add", (await server()).url, "-n", "mine"], owner)).code).toBe(0);
    const r = await runCli(["mcp", "remove", "mine"], loggedIn("stranger"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No integration named/);
    expect((await runCli(["mcp", "list"], owner)).stdout).toMatch(/^mine\s+connected/m);
  });
});
