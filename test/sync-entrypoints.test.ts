// Every way a re-sync starts, on a server that only removed a tool (nothing added, nothing changed): the
// re-sync that follows notifications/tools/list_changed, the one after re-authorization, the API's sync
// endpoint and `poke mcp sync` (both through the production app). The Re-sync button: e2e/resync.spec.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { callTool, closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { completeAuthorization, startAuthorization } from "@/lib/oauth/flow";
import { randomToken } from "@/lib/crypto";
import { followAuthorization, startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { apiCall, cliEnv, runCli, startApp, tempConfigHome, writeLogin, type App } from "./cli-helpers";
import { waitFor } from "./wait";

const fixtures: { close(): Promise<void> }[] = [];
async function track<T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> {
  const f = await p;
  fixtures.push(f);
  return f;
}
afterAll(async () => {
  await closeAll();
  await Promise.all(fixtures.map((f) => f.close()));
});

/** What a sync must answer when the server dropped `name` from a list that had `before` tools. */
const removalOf = (name: string, before: number) => ({
  added: [],
  removed: [name],
  changed: [],
  unchanged: before - 1,
  toolCount: before - 1,
});

describe("in the app's process", () => {
  let userId: string;
  let n = 0;
  beforeAll(async () => {
    const db = await getDb();
    userId = (await db.user.create({ data: { email: `entry-${Date.now()}@example.com` } })).id;
  });

  async function integration(url: string, data: { status?: string } = {}) {
    const db = await getDb();
    return (await db.integration.create({ data: { userId, name: `entry-${++n}`, url, ...data } })).id;
  }

  async function state(id: string) {
    const db = await getDb();
    const row = await db.integration.findUniqueOrThrow({
      where: { id },
      select: { status: true, lastError: true, tools: { select: { name: true } } },
    });
    return { status: row.status, lastError: row.lastError, names: row.tools.map((t) => t.name).sort() };
  }

  for (const mode of ["sessionful", "modern"] as const) {
    it(`${mode}: list_changed on an open pooled session re-syncs a removal alone`, async () => {
      const srv = await track(startMcpServer({ mode }));
      const id = await integration(srv.url);
      const { toolCount } = await syncIntegration(userId, id);
      expect((await state(id)).names).toContain("big");
      // A call opens the pooled session, which then listens for notifications (GET stream or listen request).
      await callTool({ userId, integrationId: id }, "echo", { text: "open" });
      const listening = (r: McpFixture["requests"][number]) =>
        mode === "sessionful" ? r.method === "GET" : r.rpcMethod === "subscriptions/listen";
      await waitFor(() => srv.requests.some(listening), { what: "the pooled session listening" });

      srv.removeTool("big");
      // The listener may still be subscribing when the first notification goes out: until the removal shows,
      // the server says "list changed" again every few seconds (nothing else changes on it).
      let nudged = Date.now();
      const after = await waitFor(
        async () => {
          const s = await state(id);
          if (!s.names.includes("big")) return s;
          if (Date.now() - nudged > 3000) {
            srv.setDescription("echo", "Returns the text it is given.");
            nudged = Date.now();
          }
          return undefined;
        },
        { timeoutMs: 60_000, what: "the re-sync after list_changed" },
      );
      expect(after.names).not.toContain("big");
      expect(after.names).toHaveLength(toolCount - 1);
      expect(after).toMatchObject({ status: "connected", lastError: null });
    }, 120_000);
  }

  it("re-authorization: the sync that follows removes the tool and leaves the integration connected", async () => {
    const fx: OAuthFixture = await track(startOAuthServer());
    const id = await integration(fx.mcpUrl, { status: "needs_auth" });
    const binding = randomToken("", 32);
    const authorize = async () => {
      const { authorizationUrl } = await startAuthorization({
        userId,
        integrationId: id,
        browserBinding: binding,
      });
      const callback = await followAuthorization(authorizationUrl);
      return completeAuthorization({ userId, browserBinding: binding, params: callback.searchParams });
    };
    const first = await authorize();
    expect(first).toMatchObject({ ok: true, integrationId: id });
    const before = await state(id);
    expect(before).toMatchObject({ status: "connected" });
    expect(before.names).toContain("big");

    fx.removeTool("big");
    const again = await authorize();
    expect(await state(id)).toEqual({
      status: "connected",
      lastError: null,
      names: before.names.filter((name) => name !== "big"),
    });
    expect(again).toMatchObject({ ok: true, integrationId: id, diff: removalOf("big", before.names.length) });
  }, 60_000);
});

describe("through the production app", () => {
  let app: App;
  let srv: McpFixture;
  beforeAll(async () => {
    // The app owns the database from here on (PGlite is single-process): no pooled session may touch it.
    await closeAll();
    srv = await track(startMcpServer({ mode: "sessionful" }));
    app = await startApp(["alice"]);
  }, 90_000);
  afterAll(async () => {
    await app?.stop();
  });

  type Tool = { name: string; enabled: boolean };
  const tools = async (id: string) =>
    (await apiCall<{ tools: Tool[] }>(app, app.users.alice, "GET", `/api/v1/integrations/${id}/tools`)).data
      .tools;

  async function addIntegration(name: string) {
    const res = await apiCall<{ integration: { id: string; status: string } }>(
      app,
      app.users.alice,
      "POST",
      "/api/v1/integrations",
      { name, url: srv.url },
    );
    expect(res.status).toBe(201);
    expect(res.data.integration.status).toBe("connected");
    return res.data.integration.id;
  }

  it("POST /api/v1/integrations/:id/sync answers the removal and the tool is gone", async () => {
    srv.addTool("api_only");
    const id = await addIntegration("api-removal");
    const before = await tools(id);
    expect(before.map((t) => t.name)).toContain("api_only");

    srv.removeTool("api_only");
    const res = await apiCall(app, app.users.alice, "POST", `/api/v1/integrations/${id}/sync`);
    expect(res, app.logs().slice(-2000)).toMatchObject({
      status: 200,
      data: removalOf("api_only", before.length),
    });
    expect((await tools(id)).map((t) => t.name)).toEqual(
      before.map((t) => t.name).filter((name) => name !== "api_only"),
    );
    const row = await apiCall<{ integration: { status: string; lastError: string | null } }>(
      app,
      app.users.alice,
      "GET",
      `/api/v1/integrations/${id}`,
    );
    expect(row.data.integration).toMatchObject({ status: "connected", lastError: null });
  }, 60_000);

  it("`poke mcp sync` prints the removal, exits 0, and the tool is gone", async () => {
    srv.addTool("cli_only");
    const home = tempConfigHome();
    writeLogin(home, app, app.users.alice);
    const env = cliEnv(home);
    const add = await runCli(["mcp", "add", srv.url, "-n", "cli-removal"], env);
    expect(add.code, add.stderr).toBe(0);
    const list = await apiCall<{ integrations: { id: string; name: string }[] }>(
      app,
      app.users.alice,
      "GET",
      "/api/v1/integrations",
    );
    const id = list.data.integrations.find((i) => i.name === "cli-removal")!.id;
    const before = await tools(id);
    expect(before.map((t) => t.name)).toContain("cli_only");

    srv.removeTool("cli_only");
    const sync = await runCli(["mcp", "sync", "cli-removal"], env);
    expect(sync.code, `${sync.stderr}\n${app.logs().slice(-2000)}`).toBe(0);
    expect(sync.stdout).toMatch(/removed: cli_only/);
    expect(sync.stdout).not.toMatch(/added:|changed:/);
    expect((await tools(id)).map((t) => t.name)).toEqual(
      before.map((t) => t.name).filter((name) => name !== "cli_only"),
    );
    // The next sync finds nothing to do.
    const json = await runCli(["mcp", "sync", "cli-removal", "--json"], env);
    expect(JSON.parse(json.stdout)).toEqual({
      added: [],
      removed: [],
      changed: [],
      unchanged: before.length - 1,
      toolCount: before.length - 1,
    });
  }, 60_000);
});
