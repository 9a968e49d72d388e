// `poke tunnel --client-id/--client-secret` against a local server whose authorization server has no
// dynamic registration, end to end: the CLI discovers the issuer, the app binds the pre-registered
// credentials to it and asks for authorization; the person connects in the browser (played here over
// HTTP: sign in, Connect, the local AS's consent, the app's callback); then the app reaches the local
// server's discovery documents and token endpoint only through the tunnel, calls tools with the bearer
// token, and refreshes through the tunnel. Another user can't use the tunnel; a tunnel that is down makes
// refresh fail as `tunnel_offline` and keeps the grant.
// Every test has its own user, local server and tunnel; they share only the app.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { followAuthorization, startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import {
  apiCall,
  cliEnv,
  finishOAuth,
  LiveCli,
  postForm,
  signIn,
  startApp,
  startOAuth,
  tempConfigHome,
  writeLogin,
  type App,
  type SeededUser,
} from "./cli-helpers";
import { waitFor } from "./wait";

type Integration = { id: string; name: string; url: string; status: string; lastError: string | null };
type CallResponse = {
  result?: { content: { type: string; text?: string }[] };
  error?: { code: string; message: string };
};

const NAME = "local-oauth";

let app: App;
const running: { close(): Promise<unknown> }[] = [];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const count = (text: string, re: RegExp) => (text.match(new RegExp(re, "g")) ?? []).length;

async function integrationNamed(name: string, who: SeededUser): Promise<Integration | undefined> {
  const r = await apiCall<{ integrations: Integration[] }>(app, who, "GET", "/api/v1/integrations");
  return r.data.integrations.find((i) => i.name === name);
}

const callEcho = (who: SeededUser, id: string, text: string) =>
  apiCall<CallResponse>(app, who, "POST", `/api/v1/integrations/${id}/tools/echo/call`, {
    arguments: { text },
  });

/** A local OAuth-protected server (no dynamic registration) and `poke tunnel` to it, run as `user`. */
async function openTunnel(user: SeededUser, accessTokenTtlSec = 3600) {
  const oauth: OAuthFixture = await startOAuthServer({
    dcr: false,
    consent: "auto",
    accessTokenTtlSec,
    clients: [
      {
        client_id: "poke-cli",
        client_secret: "cli-secret",
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
  });
  running.push(oauth);
  const env = cliEnv(tempConfigHome(), { POKE_TUNNEL_HEARTBEAT_MS: "1000" });
  writeLogin(env.XDG_CONFIG_HOME!, app, user);
  const args = [
    "tunnel",
    oauth.mcpUrl,
    "-n",
    NAME,
    "--client-id",
    "poke-cli",
    "--client-secret",
    "cli-secret",
  ];
  const start = () => {
    const cli = new LiveCli(args, env);
    running.push({ close: () => cli.stop() });
    return cli;
  };
  const cli = start();
  const [, link] = await cli.waitFor(/Authorize it at (\S+) \(click Authorize\)/);
  const integ = (await integrationNamed(NAME, user))!;
  /** Refreshes the AS granted (the CLI's start-up probe is a refresh request that always fails). */
  const refreshes = () => oauth.tokenLog.filter((t) => t.grantType === "refresh_token" && !t.error).length;
  // Token requests the CLI made itself at start (telling client_secret_basic from _post), not tunneled.
  return { user, oauth, cli, start, link, integ, probes: oauth.tokenLog.length, refreshes };
}
type Tunnel = Awaited<ReturnType<typeof openTunnel>>;

/** The person clicks Authorize, the local AS consents, the browser comes back to the app's callback. */
async function connect(t: Tunnel) {
  const jar = await signIn(app, t.user);
  const authorize = await startOAuth(app, jar, t.integ.id);
  const callback = await followAuthorization(authorize);
  const landed = await finishOAuth(jar, callback);
  // poke tunnel notices and says so, with the tool count.
  const [, tools] = await t.cli.waitFor(new RegExp(`Authorized: "${NAME}" is connected with (\\d+) tools`));
  return { authorize, callback, landed, tools: Number(tools) };
}

/** Every token request after the CLI's own probes reached the AS through the tunnel (the CLI logged it). */
const allTokenRequestsTunneled = (t: Tunnel) =>
  waitFor(() => count(t.cli.stdout, /POST \/token 200/) === t.oauth.stats.tokenRequests - t.probes, {
    what: "one tunnel log line per token request",
  });

beforeAll(async () => {
  // Production's egress policy: the local server (plain http on loopback) is reachable only through the
  // tunnel, and OAuth against it must work all the same.
  app = await startApp(["binder", "connector", "refresher", "lender", "borrower", "offline"], {
    ALLOW_PRIVATE_NETWORK: "0",
  });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close().catch(() => {})));
});

afterAll(async () => {
  await app?.stop();
});

describe("poke tunnel with pre-registered OAuth credentials", () => {
  it("binds the credentials to the local issuer and asks for authorization", async () => {
    const user = app.users.binder;
    const t = await openTunnel(user);
    expect(t.cli.stdout).toMatch(new RegExp(`Local authorization server: ${escape(t.oauth.issuer)}`));
    expect(t.cli.stdout).toMatch(/requires authorization/);
    const r = await apiCall<{ integrations: Integration[] }>(app, user, "GET", "/api/v1/integrations");
    expect(t.integ.status).toBe("needs_auth");
    expect(t.link).toBe(`${app.url}/integrations/${t.integ.id}`);
    // The secret never shows up in the CLI's output or the API.
    expect(t.cli.stdout).not.toContain("cli-secret");
    expect(JSON.stringify(r.data)).not.toContain("cli-secret");
    // No dynamic registration was attempted (the AS has none, and the credentials were supplied).
    expect(t.oauth.stats.registrations).toBe(0);
    // The CLI found out how this client authenticates, asking only the local issuer's token endpoint.
    expect(t.probes).toBeGreaterThan(0);
    expect(t.oauth.tokenLog.at(-1)).toMatchObject({ clientId: "poke-cli", authMethod: "client_secret_post" });
    expect(t.oauth.tokenLog.at(-1)!.error).not.toBe("invalid_client");
  });

  it("completes authorization in the browser; the app connects through the tunnel and calls tools", async () => {
    const user = app.users.connector;
    const t = await openTunnel(user);
    const { oauth, cli } = t;
    const { authorize, callback, landed, tools } = await connect(t);
    // Connect: the app discovered the local AS through the tunnel and sent the browser to it.
    expect(authorize.origin).toBe(oauth.origin);
    expect(authorize.pathname).toBe("/authorize");
    expect(authorize.searchParams.get("client_id")).toBe("poke-cli");
    expect(authorize.searchParams.get("redirect_uri")).toBe(`${app.url}/api/oauth/callback`);
    // The resource is the local server as it knows itself, not the app's tunnel route.
    expect(authorize.searchParams.get("resource")).toBe(oauth.mcpUrl);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    // Discovery went through the tunnel: the CLI logged the well-known requests.
    expect(cli.stdout).toMatch(/GET \/\.well-known\/oauth-protected-resource\/mcp 200/);
    expect(cli.stdout).toMatch(/GET \/\.well-known\/oauth-authorization-server 200/);
    // The person's browser (same machine) opened the local authorization endpoint and came back.
    expect(`${callback.origin}${callback.pathname}`).toBe(`${app.url}/api/oauth/callback`);
    expect(callback.searchParams.get("code")).toBeTruthy();
    expect(landed.pathname).toBe(`/integrations/${t.integ.id}`);
    expect(landed.search).toBe("?connected=1");
    // The code was exchanged at the local token endpoint, through the tunnel.
    await cli.waitFor(/POST \/token 200/);

    const now = (await integrationNamed(NAME, user))!;
    expect(now.status).toBe("connected");
    expect(now.lastError).toBeNull();
    const listed = await apiCall<{ tools: { name: string }[] }>(
      app,
      user,
      "GET",
      `/api/v1/integrations/${t.integ.id}/tools`,
    );
    expect(listed.data.tools.length).toBe(tools);
    expect(listed.data.tools.map((x) => x.name)).toContain("echo");

    // A tool call through the tunnel with the bearer token (the local server refuses calls without one).
    const r = await callEcho(user, t.integ.id, "authorized through the tunnel");
    expect(r.status).toBe(200);
    expect(r.data.result?.content[0].text).toBe("authorized through the tunnel");
    const mcpCalls = oauth.requests.filter((q) => q.path === "/mcp" && q.rpcMethod === "tools/call");
    expect(mcpCalls.length).toBeGreaterThan(0);
    for (const q of mcpCalls) expect(q.headers.authorization).toMatch(/^Bearer at_/);

    // The pre-registered secret went only to the local issuer's token endpoint, every time as the client
    // that was configured, and every token request reached it through the tunnel.
    const exchanges = oauth.tokenLog.slice(t.probes);
    expect(exchanges.map((x) => x.grantType)).toContain("authorization_code");
    for (const x of exchanges) {
      expect(x).toMatchObject({ clientId: "poke-cli", authMethod: "client_secret_post" });
      expect(x.error).toBeUndefined();
    }
    await allTokenRequestsTunneled(t);
    expect(oauth.stats.registrations).toBe(0);
    for (const out of [cli.stdout, cli.stderr, app.logs()]) expect(out).not.toContain("cli-secret");
  });

  it("refreshes an expired access token through the tunnel", async () => {
    const user = app.users.refresher;
    const t = await openTunnel(user);
    await connect(t);
    expect((await callEcho(user, t.integ.id, "before expiry")).status).toBe(200);
    const refreshesBefore = t.refreshes();
    const tokenLinesBefore = count(t.cli.stdout, /POST \/token 200/);
    t.oauth.expireAllAccessTokens(); // the local server now refuses the token the app holds
    const r = await callEcho(user, t.integ.id, "after expiry");
    expect(r.status).toBe(200);
    expect(r.data.result?.content[0].text).toBe("after expiry");
    expect(t.refreshes()).toBeGreaterThan(refreshesBefore);
    for (const x of t.oauth.tokenLog.slice(t.probes)) expect(x.error).toBeUndefined();
    // Each refresh went through the tunnel (the CLI logs every forwarded request).
    await allTokenRequestsTunneled(t);
    expect(count(t.cli.stdout, /POST \/token 200/)).toBeGreaterThan(tokenLinesBefore);
    expect((await integrationNamed(NAME, user))!.status).toBe("connected");
  });

  it("another user can't use the tunnel for OAuth: nothing reaches the local server", async () => {
    const t = await openTunnel(app.users.lender);
    const bob = app.users.borrower;
    const before = t.oauth.requests.length;
    const cliLines = t.cli.stdout.length;
    const created = await apiCall<{ integration: Integration; error?: { code: string } }>(
      app,
      bob,
      "POST",
      "/api/v1/integrations",
      { name: "borrowed", url: t.integ.url },
    );
    expect(created.data.error?.code).toBe("tunnel_offline");
    const jar = await signIn(app, bob);
    const answer = await startOAuth(app, jar, created.data.integration.id);
    expect(answer.origin).toBe(app.url);
    expect(answer.pathname).toBe(`/integrations/${created.data.integration.id}`);
    expect(answer.searchParams.get("oauth_error")).toBe("tunnel_offline");
    // And bob can't start OAuth on the lender's integration either (not found, no outbound request).
    const foreign = await postForm(app, jar, "/api/oauth/start", { integrationId: t.integ.id });
    expect(foreign.status).toBe(404);
    expect(t.oauth.requests.length).toBe(before);
    expect(t.cli.stdout.slice(cliLines)).not.toMatch(/(GET|POST) \//);
  });

  it("with the tunnel down, refresh fails as tunnel_offline and keeps the grant", async () => {
    const user = app.users.offline;
    const ttlSec = 2;
    const t = await openTunnel(user, ttlSec);
    await connect(t);
    // The app stored the token no earlier than this: by the app's own clock it has expired after.
    const expiredBy = Date.now() + ttlSec * 1000;
    expect(await t.cli.stop()).toBe(0);
    await waitFor(async () => (await integrationNamed(NAME, user))!.status === "offline", {
      what: "the integration going offline",
    });
    await waitFor(() => Date.now() >= expiredBy, { what: "the access token's expiry" });
    const refreshesBefore = t.refreshes();
    const r = await callEcho(user, t.integ.id, "while offline");
    expect(r.data.error?.code).toBe("tunnel_offline");
    expect(r.data.error?.message).toMatch(/offline/);
    const down = (await integrationNamed(NAME, user))!;
    expect(down.status).not.toMatch(/needs_(re)?auth/);
    expect(t.refreshes()).toBe(refreshesBefore);

    // Back online: the kept refresh token works at once, no new authorization needed.
    const cli = t.start();
    await cli.waitFor(/Tunnel online: \d+ tools/);
    expect(cli.stdout).not.toMatch(/Authorize it at/);
    const again = await callEcho(user, t.integ.id, "back again");
    expect(again.data.result?.content[0].text).toBe("back again");
    expect(t.refreshes()).toBeGreaterThan(refreshesBefore);
    expect((await integrationNamed(NAME, user))!.status).toBe("connected");
  });
});
