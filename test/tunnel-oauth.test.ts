// `poke tunnel --client-id/--client-secret` against a local server whose authorization server has no
// dynamic registration, end to end: the CLI discovers the issuer, the app binds the pre-registered
// credentials to it and asks for authorization; the person connects in the browser (played here over
// HTTP: sign in, Connect, the local AS's consent, the app's callback); then the app reaches the local
// server's discovery documents and token endpoint only through the tunnel, calls tools with the bearer
// token, and refreshes through the tunnel. Another user can't use the tunnel; a tunnel that is down makes
// refresh fail as `tunnel_offline` and keeps the grant.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { followAuthorization, startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import {
  apiCall,
  cliEnv,
  finishOAuth,
  LiveCli,
  postForm,
  signIn,
  sleep,
  startApp,
  startOAuth,
  tempConfigHome,
  writeLogin,
  type App,
} from "./cli-helpers";

type Integration = { id: string; name: string; url: string; status: string; lastError: string | null };
type CallResponse = {
  result?: { content: { type: string; text?: string }[] };
  error?: { code: string; message: string };
};

const TTL_SEC = 3;
const NAME = "local-oauth";

let app: App;
let oauth: OAuthFixture;
let env: NodeJS.ProcessEnv;
let cli: LiveCli | undefined;
let integ: Integration;
/** Token requests the CLI made itself at start (telling client_secret_basic from _post), not tunneled. */
let probes = 0;

/** Refreshes the AS granted (the CLI's start-up probe is a refresh request that always fails). */
const refreshes = () => oauth.tokenLog.filter((t) => t.grantType === "refresh_token" && !t.error).length;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const count = (text: string, re: RegExp) => (text.match(new RegExp(re, "g")) ?? []).length;
const tunnelArgs = () => [
  "tunnel",
  oauth.mcpUrl,
  "-n",
  NAME,
  "--client-id",
  "poke-cli",
  "--client-secret",
  "cli-secret",
];

async function integrationNamed(name: string, who = app.users.alice): Promise<Integration | undefined> {
  const r = await apiCall<{ integrations: Integration[] }>(app, who, "GET", "/api/v1/integrations");
  return r.data.integrations.find((i) => i.name === name);
}

const callEcho = (id: string, text: string, who = app.users.alice) =>
  apiCall<CallResponse>(app, who, "POST", `/api/v1/integrations/${id}/tools/echo/call`, {
    arguments: { text },
  });

beforeAll(async () => {
  // Production's egress policy: the local server (plain http on loopback) is reachable only through the
  // tunnel, and OAuth against it must work all the same.
  app = await startApp(["alice", "bob"], { ALLOW_PRIVATE_NETWORK: "0" });
  oauth = await startOAuthServer({
    dcr: false,
    consent: "auto",
    accessTokenTtlSec: TTL_SEC,
    clients: [
      {
        client_id: "poke-cli",
        client_secret: "cli-secret",
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
  });
  env = cliEnv(tempConfigHome(), { POKE_TUNNEL_HEARTBEAT_MS: "1000" });
  writeLogin(env.XDG_CONFIG_HOME!, app, app.users.alice);
}, 90_000);

afterAll(async () => {
  await cli?.stop();
  await app?.stop();
  await oauth?.close();
});

describe("poke tunnel with pre-registered OAuth credentials", () => {
  it("binds the credentials to the local issuer and asks for authorization", async () => {
    cli = new LiveCli(tunnelArgs(), env);
    await cli.waitFor(new RegExp(`Local authorization server: ${escape(oauth.issuer)}`));
    const [, link] = await cli.waitFor(/Authorize it at (\S+) \(click Connect\)/);
    expect(cli.stdout).toMatch(/requires authorization/);
    const r = await apiCall<{ integrations: Integration[] }>(
      app,
      app.users.alice,
      "GET",
      "/api/v1/integrations",
    );
    integ = r.data.integrations.find((i) => i.name === NAME)!;
    expect(integ.status).toBe("needs_auth");
    expect(link).toBe(`${app.url}/integrations/${integ.id}`);
    // The secret never shows up in the CLI's output or the API.
    expect(cli.stdout).not.toContain("cli-secret");
    expect(JSON.stringify(r.data)).not.toContain("cli-secret");
    // No dynamic registration was attempted (the AS has none, and the credentials were supplied).
    expect(oauth.stats.registrations).toBe(0);
    // The CLI found out how this client authenticates, asking only the local issuer's token endpoint.
    probes = oauth.tokenLog.length;
    expect(probes).toBeGreaterThan(0);
    expect(oauth.tokenLog.at(-1)).toMatchObject({ clientId: "poke-cli", authMethod: "client_secret_post" });
    expect(oauth.tokenLog.at(-1)!.error).not.toBe("invalid_client");
  }, 60_000);

  it("completes authorization in the browser; the app connects through the tunnel and calls tools", async () => {
    const jar = await signIn(app, app.users.alice);
    // Connect: the app discovers the local AS through the tunnel and sends the browser to it.
    const authorize = await startOAuth(app, jar, integ.id);
    expect(authorize.origin).toBe(oauth.origin);
    expect(authorize.pathname).toBe("/authorize");
    expect(authorize.searchParams.get("client_id")).toBe("poke-cli");
    expect(authorize.searchParams.get("redirect_uri")).toBe(`${app.url}/api/oauth/callback`);
    // The resource is the local server as it knows itself, not the app's tunnel route.
    expect(authorize.searchParams.get("resource")).toBe(oauth.mcpUrl);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    // Discovery went through the tunnel: the CLI logged the well-known requests.
    expect(cli!.stdout).toMatch(/GET \/\.well-known\/oauth-protected-resource\/mcp 200/);
    expect(cli!.stdout).toMatch(/GET \/\.well-known\/oauth-authorization-server 200/);

    // The person's browser (same machine) opens the local authorization endpoint, consents, and comes back.
    const callback = await followAuthorization(authorize);
    expect(`${callback.origin}${callback.pathname}`).toBe(`${app.url}/api/oauth/callback`);
    expect(callback.searchParams.get("code")).toBeTruthy();
    const landed = await finishOAuth(jar, callback);
    expect(landed.pathname).toBe(`/integrations/${integ.id}`);
    expect(landed.search).toBe("?connected=1");

    // The code was exchanged at the local token endpoint, through the tunnel.
    await cli!.waitFor(/POST \/token 200/);
    // poke tunnel notices and says so, with the tool count.
    const [, tools] = await cli!.waitFor(
      new RegExp(`Authorized: "${NAME}" is connected with (\\d+) tools`),
      15_000,
    );

    const now = (await integrationNamed(NAME))!;
    expect(now.status).toBe("connected");
    expect(now.lastError).toBeNull();
    const listed = await apiCall<{ tools: { name: string }[] }>(
      app,
      app.users.alice,
      "GET",
      `/api/v1/integrations/${integ.id}/tools`,
    );
    expect(listed.data.tools.length).toBe(Number(tools));
    expect(listed.data.tools.map((t) => t.name)).toContain("echo");

    // A tool call through the tunnel with the bearer token (the local server refuses calls without one).
    const r = await callEcho(integ.id, "authorized through the tunnel");
    expect(r.status).toBe(200);
    expect(r.data.result?.content[0].text).toBe("authorized through the tunnel");
    const mcpCalls = oauth.requests.filter((q) => q.path === "/mcp" && q.rpcMethod === "tools/call");
    expect(mcpCalls.length).toBeGreaterThan(0);
    for (const q of mcpCalls) expect(q.headers.authorization).toMatch(/^Bearer at_/);

    // The pre-registered secret went only to the local issuer's token endpoint, every time as the client
    // that was configured, and every token request reached it through the tunnel.
    const exchanges = oauth.tokenLog.slice(probes);
    expect(exchanges.map((t) => t.grantType)).toContain("authorization_code");
    for (const t of exchanges) {
      expect(t).toMatchObject({ clientId: "poke-cli", authMethod: "client_secret_post" });
      expect(t.error).toBeUndefined();
    }
    expect(count(cli!.stdout, /POST \/token 200/)).toBe(oauth.stats.tokenRequests - probes);
    expect(oauth.stats.registrations).toBe(0);
    for (const out of [cli!.stdout, cli!.stderr, app.logs()]) expect(out).not.toContain("cli-secret");
  }, 60_000);

  it("refreshes an expired access token through the tunnel", async () => {
    const refreshesBefore = refreshes();
    const tokenLinesBefore = count(cli!.stdout, /POST \/token 200/);
    await sleep(TTL_SEC * 1000 + 500); // the access token has expired now
    const r = await callEcho(integ.id, "after expiry");
    expect(r.status).toBe(200);
    expect(r.data.result?.content[0].text).toBe("after expiry");
    expect(refreshes()).toBeGreaterThan(refreshesBefore);
    for (const t of oauth.tokenLog.slice(probes)) expect(t.error).toBeUndefined();
    // Each refresh went through the tunnel (the CLI logs every forwarded request).
    expect(count(cli!.stdout, /POST \/token 200/)).toBeGreaterThan(tokenLinesBefore);
    expect(count(cli!.stdout, /POST \/token 200/)).toBe(oauth.stats.tokenRequests - probes);
    expect((await integrationNamed(NAME))!.status).toBe("connected");
  }, 60_000);

  it("another user can't use the tunnel for OAuth: nothing reaches the local server", async () => {
    const before = oauth.requests.length;
    const cliLines = cli!.stdout.length;
    const created = await apiCall<{ integration: Integration; error?: { code: string } }>(
      app,
      app.users.bob,
      "POST",
      "/api/v1/integrations",
      { name: "borrowed", url: integ.url },
    );
    expect(created.data.error?.code).toBe("tunnel_offline");
    const jar = await signIn(app, app.users.bob);
    const answer = await startOAuth(app, jar, created.data.integration.id);
    expect(answer.origin).toBe(app.url);
    expect(answer.pathname).toBe(`/integrations/${created.data.integration.id}`);
    expect(answer.searchParams.get("oauth_error")).toBe("tunnel_offline");
    // And bob can't start OAuth on alice's integration either (not found, no outbound request).
    const foreign = await postForm(app, jar, "/api/oauth/start", { integrationId: integ.id });
    expect(foreign.status).toBe(404);
    expect(oauth.requests.length).toBe(before);
    expect(cli!.stdout.slice(cliLines)).not.toMatch(/(GET|POST) \//);
  }, 60_000);

  it("with the tunnel down, refresh fails as tunnel_offline and keeps the grant", async () => {
    expect(await cli!.stop()).toBe(0);
    await expect
      .poll(async () => (await integrationNamed(NAME))!.status, { timeout: 10_000 })
      .toBe("offline");
    await sleep(TTL_SEC * 1000 + 500); // expired: the next use must refresh first
    const refreshesBefore = refreshes();
    const r = await callEcho(integ.id, "while offline");
    expect(r.data.error?.code).toBe("tunnel_offline");
    expect(r.data.error?.message).toMatch(/offline/);
    const down = (await integrationNamed(NAME))!;
    expect(down.status).not.toMatch(/needs_(re)?auth/);
    expect(refreshes()).toBe(refreshesBefore);

    // Back online: the kept refresh token works at once, no new authorization needed.
    cli = new LiveCli(tunnelArgs(), env);
    await cli.waitFor(/Tunnel online: \d+ tools/);
    expect(cli.stdout).not.toMatch(/Authorize it at/);
    const again = await callEcho(integ.id, "back again");
    expect(again.data.result?.content[0].text).toBe("back again");
    expect(refreshes()).toBeGreaterThan(refreshesBefore);
    expect((await integrationNamed(NAME))!.status).toBe("connected");
  }, 60_000);
});
