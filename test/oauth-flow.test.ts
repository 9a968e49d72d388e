// The OAuth client end to end: real fixture authorization servers, real database (PGlite or PostgreSQL).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { aad, decryptJson, encryptField, randomToken } from "@/lib/crypto";
import { getDb } from "@/lib/db";
import { env } from "@/lib/env";
import { connectMcp } from "@/lib/mcp/connect";
import { completeAuthorization, startAuthorization } from "@/lib/oauth/flow";
import {
  disconnectOAuth,
  ensureFreshToken,
  oauthProviderFor,
  oauthStatus,
  refreshGrant,
} from "@/lib/oauth/grant";
import { loadOAuthIntegration, readGrant, setCliClient } from "@/lib/data/grants";
import { BROWSER_COOKIE, handleCallbackRequest, handleStartRequest } from "@/lib/oauth/web";
import {
  followAuthorization,
  startOAuthServer,
  type OAuthFixture,
  type OAuthHostileKind,
  type OAuthServerOptions,
} from "./fixtures/oauth-servers";
import { expectAppError } from "./app-error";

const fixtures: OAuthFixture[] = [];
const extraServers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(fixtures.map((f) => f.close()));
  await Promise.all(extraServers.map((s) => new Promise((r) => s.close(r))));
});

async function fixture(o: OAuthServerOptions = {}): Promise<OAuthFixture> {
  const fx = await startOAuthServer(o);
  fixtures.push(fx);
  return fx;
}

let n = 0;
async function makeUser(): Promise<string> {
  const db = await getDb();
  return (await db.user.create({ data: { email: `oauth${++n}-${Date.now()}@example.com` } })).id;
}

async function makeIntegration(userId: string, url: string, templateId?: string): Promise<string> {
  const db = await getDb();
  const row = await db.integration.create({
    data: { userId, name: `oauth-int-${++n}`, url, templateId, status: "needs_auth" },
  });
  return row.id;
}

async function makeTemplate(
  fx: OAuthFixture,
  o: { clientId: string; secret: string; method?: string; issuer?: string; extra?: Record<string, string> },
): Promise<string> {
  const db = await getDb();
  const t = await db.template.create({
    data: {
      name: `tpl-${++n}`,
      slug: `tpl-${n}-${Date.now()}`,
      serverUrl: fx.mcpUrl,
      clientId: o.clientId,
      tokenEndpointAuthMethod: o.method,
      issuer: o.issuer,
      extraAuthParams: o.extra,
    },
  });
  await db.template.update({
    where: { id: t.id },
    data: { clientSecretEnc: encryptField(o.secret, aad("Template", "clientSecretEnc", t.id)) },
  });
  return t.id;
}

const BINDING = randomToken("", 32);
const callbackUri = () => `${env().APP_URL}/api/oauth/callback`;

/** start → the "browser" follows the authorization URL → the redirect back to our callback. */
async function authorize(userId: string, integrationId: string, binding = BINDING) {
  const { authorizationUrl } = await startAuthorization({ userId, integrationId, browserBinding: binding });
  const callback = await followAuthorization(authorizationUrl);
  return { authorizationUrl: new URL(authorizationUrl!), callback };
}

async function connectOAuth(userId: string, integrationId: string) {
  const { callback, authorizationUrl } = await authorize(userId, integrationId);
  const result = await completeAuthorization({
    userId,
    browserBinding: BINDING,
    params: callback.searchParams,
  });
  expect(result).toMatchObject({ ok: true, integrationId });
  return { callback, authorizationUrl };
}

async function integration(id: string) {
  const db = await getDb();
  return db.integration.findUniqueOrThrow({ where: { id } });
}

async function auditActions(integrationId: string): Promise<string[]> {
  const db = await getDb();
  const rows = await db.auditEvent.findMany({
    where: { targetId: integrationId },
    orderBy: { createdAt: "asc" },
  });
  return rows.map((r) => r.action);
}

/** No client secret may have left in a header or URL of any request the fixture recorded. */
function expectNoSecretSent(fx: OAuthFixture, secret?: string) {
  for (const r of fx.requests) {
    expect(r.headers.authorization ?? "").not.toMatch(/^basic /i);
    expect(r.url).not.toContain("client_secret");
    if (secret) expect(JSON.stringify(r)).not.toContain(secret);
  }
}

async function expireGrant(integrationId: string, inMs = -1000) {
  const db = await getDb();
  // As if obtained an hour ago: the refresh window depends on the token's lifetime.
  await db.oAuthGrant.update({
    where: { integrationId },
    data: { expiresAt: new Date(Date.now() + inMs), obtainedAt: new Date(Date.now() - 3600_000) },
  });
}

/** A loopback server answering every request with `status` (for transient-failure tests). */
async function statusServer(status: number, onRequest?: () => Promise<void>): Promise<string> {
  const server = http.createServer(async (req, res) => {
    req.resume();
    await onRequest?.();
    res.writeHead(status, { "content-type": "application/json" });
    res.end(status >= 400 ? JSON.stringify({ error: "server_error" }) : "");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  extraServers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function pointEndpoint(integrationId: string, field: string, url: string) {
  const db = await getDb();
  const row = await db.integration.findUniqueOrThrow({ where: { id: integrationId } });
  const d = structuredClone(row.oauthDiscovery) as { authorizationServerMetadata: Record<string, unknown> };
  d.authorizationServerMetadata[field] = url;
  await db.integration.update({ where: { id: integrationId }, data: { oauthDiscovery: d as object } });
}

describe("authorization with dynamic client registration", () => {
  it("runs start → consent → callback through the route handlers, stores an encrypted grant and syncs tools", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);

    const form = new FormData();
    form.set("integrationId", id);
    const startRes = await handleStartRequest(
      new Request(`${env().APP_URL}/api/oauth/start`, { method: "POST", body: form }),
      { id: userId },
    );
    expect(startRes.status).toBe(303);
    expect(startRes.headers.get("x-frame-options")).toBe("DENY");
    expect(startRes.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
    const cookie = startRes.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(new RegExp(`^${BROWSER_COOKIE}=[A-Za-z0-9_-]{43};`));
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    expect(cookie).not.toContain("Secure"); // APP_URL is http in tests

    const authUrl = new URL(startRes.headers.get("location")!);
    expect(authUrl.origin).toBe(fx.issuer);
    expect(authUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authUrl.searchParams.get("resource")).toBe(fx.mcpUrl);
    expect(authUrl.searchParams.get("redirect_uri")).toBe(callbackUri());
    expect(authUrl.searchParams.get("state")!.length).toBeGreaterThanOrEqual(43); // 256 bits
    expect(fx.stats.registrations).toBe(1);

    // Pending row: hashed state, encrypted verifier, recorded issuer + token endpoint, 10 min TTL.
    const db = await getDb();
    const pending = await db.oAuthPending.findFirstOrThrow({ where: { integrationId: id } });
    expect(pending.stateHash).not.toBe(authUrl.searchParams.get("state"));
    expect(pending.verifierEnc).toMatch(/^v1\./);
    expect(pending.issuer).toBe(fx.issuer);
    expect((pending.endpoints as { tokenEndpoint: string }).tokenEndpoint).toBe(`${fx.issuer}/token`);
    expect(pending.expiresAt.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);

    const back = await followAuthorization(authUrl);
    expect(back.origin + back.pathname).toBe(callbackUri());
    const cbRes = await handleCallbackRequest(
      new Request(back, { headers: { cookie: cookie.split(";")[0] } }),
      { id: userId },
    );
    expect(cbRes.status).toBe(303);
    expect(cbRes.headers.get("location")).toBe(`${env().APP_URL}/integrations/${id}?connected=1`);

    const grant = await db.oAuthGrant.findUniqueOrThrow({ where: { integrationId: id } });
    expect(grant.tokensEnc).toMatch(/^v1\./);
    expect(grant.tokensEnc).not.toContain("at_");
    const tokens = decryptJson<{ access_token: string; refresh_token: string; issuer: string }>(
      grant.tokensEnc,
      aad("OAuthGrant", "tokensEnc", grant.id),
    );
    expect(tokens.access_token).toMatch(/^at_/);
    expect(tokens.issuer).toBe(fx.issuer);
    expect(grant).toMatchObject({ issuer: fx.issuer, hasRefresh: true, scope: "mcp:read mcp:write" });
    expect(fx.tokenLog[0]).toMatchObject({ grantType: "authorization_code", resource: fx.mcpUrl });

    const client = await db.oAuthClient.findFirstOrThrow({ where: { integrationId: id } });
    expect(client).toMatchObject({ source: "dcr", issuer: fx.issuer, redirectUri: callbackUri() });
    expect(client.clientSecretEnc).toMatch(/^v1\./);

    const integ = await integration(id);
    expect(integ).toMatchObject({ status: "connected", authKind: "oauth", lastError: null });
    expect(await db.tool.count({ where: { integrationId: id } })).toBeGreaterThan(3);
    expect(integ.oauthDiscovery).toMatchObject({ authorizationServerMetadata: { issuer: fx.issuer } });

    expect(await auditActions(id)).toEqual(
      expect.arrayContaining(["oauth.client_registered", "oauth.start", "oauth.callback"]),
    );
    expect(await oauthStatus(userId, id)).toMatchObject({
      kind: "oauth",
      issuer: fx.issuer,
      scopes: ["mcp:read", "mcp:write"],
      state: "authorized",
    });
    // Per-user headers go to the MCP server only, never to the authorization server's endpoints.
    const asRequests = fx.requests.filter((r) => /^\/(token|register|authorize|\.well-known)/.test(r.path));
    expect(asRequests.length).toBeGreaterThan(3);
    for (const r of asRequests) expect(r.headers["x-poke-user-id"]).toBeUndefined();
  });

  it("reuses the DCR registration on reconnect and keeps per-integration clients apart", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    await connectOAuth(userId, id);
    expect(fx.stats.registrations).toBe(1);
    const other = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, other);
    expect(fx.stats.registrations).toBe(2);
  });

  it("does nothing for another user's integration (not found, no outbound request)", async () => {
    const fx = await fixture();
    const owner = await makeUser();
    const id = await makeIntegration(owner, fx.mcpUrl);
    const intruder = await makeUser();
    await expectAppError(
      startAuthorization({ userId: intruder, integrationId: id, browserBinding: BINDING }),
      "not_found",
    );
    await expectAppError(ensureFreshToken(intruder, id), "not_found");
    await expectAppError(disconnectOAuth(intruder, id), "not_found");
    expect(fx.requests).toHaveLength(0);
  });
});

describe("pre-registered clients (no DCR)", () => {
  for (const method of ["client_secret_basic", "client_secret_post"] as const) {
    it(`uses a template's credentials with ${method} and never registers`, async () => {
      const fx = await fixture({
        dcr: false,
        clients: [
          { client_id: "poke-web", client_secret: "s3cret-value", token_endpoint_auth_method: method },
        ],
      });
      const templateId = await makeTemplate(fx, {
        clientId: "poke-web",
        secret: "s3cret-value",
        method,
        extra: { access_type: "offline", prompt: "consent", state: "attacker" },
      });
      const userId = await makeUser();
      const id = await makeIntegration(userId, fx.mcpUrl, templateId);
      const { authorizationUrl } = await connectOAuth(userId, id);
      expect(authorizationUrl.searchParams.get("client_id")).toBe("poke-web");
      expect(authorizationUrl.searchParams.get("access_type")).toBe("offline");
      expect(authorizationUrl.searchParams.get("prompt")).toBe("consent");
      expect(authorizationUrl.searchParams.get("state")).not.toBe("attacker");
      expect(fx.stats.registrations).toBe(0);
      expect(fx.tokenLog.map((t) => [t.grantType, t.authMethod, t.error])).toEqual([
        ["authorization_code", method, undefined],
      ]);
      const db = await getDb();
      expect(await db.oAuthClient.count({ where: { integrationId: id } })).toBe(0);
      // First use binds the template's credentials to the issuer that accepted them.
      expect((await db.template.findUniqueOrThrow({ where: { id: templateId } })).issuer).toBe(fx.issuer);
      // Refresh authenticates the same way.
      await expireGrant(id);
      await ensureFreshToken(userId, id);
      expect(fx.tokenLog.at(-1)).toMatchObject({ grantType: "refresh_token", authMethod: method });
      expect(fx.tokenLog.at(-1)?.error).toBeUndefined();
    });
  }

  it("fails closed when the template's credentials belong to another issuer: nothing secret is sent", async () => {
    const fx = await fixture({
      dcr: false,
      clients: [{ client_id: "poke-web", client_secret: "s3cret-value" }],
    });
    const templateId = await makeTemplate(fx, {
      clientId: "poke-web",
      secret: "s3cret-value",
      issuer: "https://previous-as.example",
    });
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl, templateId);
    await expectAppError(
      startAuthorization({ userId, integrationId: id, browserBinding: BINDING }),
      "issuer_mismatch",
    );
    expect(fx.stats.tokenRequests).toBe(0);
    expectNoSecretSent(fx, "s3cret-value");
    const integ = await integration(id);
    expect(integ.status).toBe("error");
    expect(integ.lastError).toMatch(/different authorization server/);
    expect(await auditActions(id)).toContain("oauth.rejected_metadata");
  });

  it("refuses template credentials on an integration whose URL no longer matches the template", async () => {
    const fx = await fixture({
      dcr: false,
      clients: [{ client_id: "poke-web", client_secret: "s3cret-value" }],
    });
    const templateId = await makeTemplate(fx, { clientId: "poke-web", secret: "s3cret-value" });
    const userId = await makeUser();
    const id = await makeIntegration(userId, `${fx.origin}/other-mcp`, templateId);
    await expectAppError(
      startAuthorization({ userId, integrationId: id, browserBinding: BINDING }),
      "template_mismatch",
    );
    expect(fx.requests).toHaveLength(0);
  });

  it("uses CLI-supplied credentials (poke tunnel --client-id/--client-secret) without registering", async () => {
    const fx = await fixture({
      dcr: false,
      clients: [
        {
          client_id: "cli-client",
          client_secret: "cli-secret",
          token_endpoint_auth_method: "client_secret_post",
        },
      ],
      tokenEndpointAuthMethods: ["client_secret_post"], // the method the AS advertises is the one used
    });
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await setCliClient({ id, userId }, { clientId: "cli-client", clientSecret: "cli-secret" });
    await connectOAuth(userId, id);
    expect(fx.stats.registrations).toBe(0);
    expect(fx.tokenLog[0]).toMatchObject({ authMethod: "client_secret_post", clientId: "cli-client" });
    const db = await getDb();
    const row = await db.oAuthClient.findFirstOrThrow({ where: { integrationId: id } });
    expect(row).toMatchObject({ source: "cli", issuer: fx.issuer });
    expect(row.clientSecretEnc).toMatch(/^v1\./);
  });

  it("explains that a client id is needed when the AS has no registration endpoint", async () => {
    const fx = await fixture({ dcr: false });
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const err = await expectAppError(
      startAuthorization({ userId, integrationId: id, browserBinding: BINDING }),
      "client_required",
    );
    expect(err.message).toMatch(/client id and secret/);
  });
});

describe("callback state binding", () => {
  it("rejects a replayed callback (single use) without a second token request", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const { callback } = await connectOAuth(userId, id);
    const before = fx.stats.tokenRequests;
    const again = await completeAuthorization({
      userId,
      browserBinding: BINDING,
      params: callback.searchParams,
    });
    expect(again).toEqual({ ok: false, integrationId: id, error: "invalid_state" });
    expect(fx.stats.tokenRequests).toBe(before);
    expect((await integration(id)).status).toBe("connected"); // a replay doesn't disturb the integration
  });

  it("rejects another user's state and leaves it usable by its owner", async () => {
    const fx = await fixture();
    const owner = await makeUser();
    const id = await makeIntegration(owner, fx.mcpUrl);
    const { callback } = await authorize(owner, id);
    const other = await makeUser();
    const stolen = await completeAuthorization({
      userId: other,
      browserBinding: BINDING,
      params: callback.searchParams,
    });
    expect(stolen).toEqual({ ok: false, integrationId: null, error: "invalid_state" });
    expect(fx.stats.tokenRequests).toBe(0);
    const ok = await completeAuthorization({
      userId: owner,
      browserBinding: BINDING,
      params: callback.searchParams,
    });
    expect(ok.ok).toBe(true);
  });

  it("rejects a callback from another browser (cookie) and one without the cookie", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const { callback } = await authorize(userId, id);
    const wrong = await completeAuthorization({
      userId,
      browserBinding: randomToken("", 32),
      params: callback.searchParams,
    });
    expect(wrong).toMatchObject({ ok: false, error: "invalid_state" });
    const none = await handleCallbackRequest(new Request(callback), { id: userId });
    expect(none.headers.get("location")).toContain("oauth_error=invalid_state");
    expect(fx.stats.tokenRequests).toBe(0);
  });

  it("rejects an expired pending authorization", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const { callback } = await authorize(userId, id);
    const db = await getDb();
    await db.oAuthPending.updateMany({
      where: { integrationId: id },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    const r = await completeAuthorization({ userId, browserBinding: BINDING, params: callback.searchParams });
    expect(r).toMatchObject({ ok: false, error: "invalid_state" });
    expect(fx.stats.tokenRequests).toBe(0);
  });

  it("rejects an iss that isn't the recorded issuer (RFC 9207) before redeeming the code", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const { callback } = await authorize(userId, id);
    const params = new URLSearchParams(callback.searchParams);
    params.set("iss", "https://attacker.example");
    const r = await completeAuthorization({ userId, browserBinding: BINDING, params });
    expect(r).toMatchObject({ ok: false, error: "iss_mismatch" });
    const db = await getDb();
    expect(fx.stats.tokenRequests).toBe(0);
    expect(await db.oAuthGrant.count({ where: { integrationId: id } })).toBe(0);
    expect((await integration(id)).status).toBe("error");
    expect(await auditActions(id)).toContain("oauth.rejected_metadata");
  });

  it("rejects a callback without iss when the AS promised to send it", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const { callback } = await authorize(userId, id);
    const params = new URLSearchParams(callback.searchParams);
    params.delete("iss");
    expect(await completeAuthorization({ userId, browserBinding: BINDING, params })).toMatchObject({
      ok: false,
      error: "iss_mismatch",
    });
    expect(fx.stats.tokenRequests).toBe(0);
  });

  it("shows 'authorization was denied' when the person denies consent", async () => {
    const fx = await fixture({ consent: "page" });
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const { authorizationUrl } = await startAuthorization({
      userId,
      integrationId: id,
      browserBinding: BINDING,
    });
    const back = await followAuthorization(authorizationUrl, { decision: "deny" });
    expect(back.searchParams.get("error")).toBe("access_denied");
    const res = await handleCallbackRequest(
      new Request(back, { headers: { cookie: `${BROWSER_COOKIE}=${BINDING}` } }),
      {
        id: userId,
      },
    );
    expect(res.headers.get("location")).toBe(`${env().APP_URL}/integrations/${id}?oauth_error=access_denied`);
    const integ = await integration(id);
    expect(integ.lastError).toMatch(/denied/i);
    expect(integ.lastError).not.toContain("The user denied access"); // error_description is never used
    expect(fx.stats.tokenRequests).toBe(0);
  });
});

describe("refresh", () => {
  it("refreshes shortly before expiry and replaces a rotated refresh token", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    const before = (await readGrant({ id, userId }))!;
    expect(await ensureFreshToken(userId, id)).toBe(before.tokens.access_token); // fresh: no request
    expect(fx.stats.refreshRequests).toBe(0);

    await expireGrant(id, 30_000); // inside the 60 s window
    const token = await ensureFreshToken(userId, id);
    const after = (await readGrant({ id, userId }))!;
    expect(fx.stats.refreshRequests).toBe(1);
    expect(token).not.toBe(before.tokens.access_token);
    expect(after.tokens.access_token).toBe(token);
    expect(after.tokens.refresh_token).not.toBe(before.tokens.refresh_token);
    expect(after.version).toBe(before.version + 1);
    expect(fx.tokenLog.at(-1)).toMatchObject({ grantType: "refresh_token", resource: fx.mcpUrl });
    expect(await auditActions(id)).toContain("oauth.refresh");
  });

  it("a burst of 10 concurrent calls on an expired token makes exactly one refresh request", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    await expireGrant(id);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => ensureFreshToken(userId, id)));
    expect(fx.stats.refreshRequests).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect((await integration(id)).status).toBe("connected");
  });

  it("the row lock alone (as between processes) lets only one of 5 concurrent refreshes through", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    await expireGrant(id);
    const integ = await loadOAuthIntegration(userId, id);
    const seen = (await readGrant({ id, userId }))!;
    const tokens = await Promise.all(Array.from({ length: 5 }, () => refreshGrant(integ, seen)));
    expect(fx.stats.refreshRequests).toBe(1);
    expect(new Set(tokens).size).toBe(1);
  });

  it("on 401 the engine's provider refreshes once for 10 parallel calls, then they succeed", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    const authProvider = await oauthProviderFor(userId, id);
    expect(authProvider).not.toBeNull();
    const conn = await connectMcp({ url: fx.mcpUrl, userId, authProvider: authProvider! });
    try {
      fx.expireAllAccessTokens(); // the AS says expired; our record still thinks the token is valid
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          conn.client.callTool({ name: "echo", arguments: { text: `call ${i}` } }),
        ),
      );
      expect(results.every((r) => !r.isError)).toBe(true);
      expect(fx.stats.refreshRequests).toBe(1);
    } finally {
      await conn.close();
    }
  });

  it("rotation reuse detection → invalid_grant → needs_reauth, grant deleted", async () => {
    const fx = await fixture({ reuseDetection: true });
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    const db = await getDb();
    const stale = await db.oAuthGrant.findUniqueOrThrow({ where: { integrationId: id } });
    await expireGrant(id);
    await ensureFreshToken(userId, id); // rotates
    // A lost write: the old (already rotated) refresh token comes back and is presented again.
    await db.oAuthGrant.update({
      where: { integrationId: id },
      data: { tokensEnc: stale.tokensEnc, expiresAt: new Date(Date.now() - 1000), version: { increment: 1 } },
    });
    const err = await expectAppError(ensureFreshToken(userId, id), "needs_reauth");
    expect(err.message).toBe("Authorization expired or was revoked: reconnect");
    expect(fx.tokenLog.at(-1)?.error).toBe("invalid_grant");
    expect(await db.oAuthGrant.count({ where: { integrationId: id } })).toBe(0);
    const integ = await integration(id);
    expect(integ.status).toBe("needs_reauth");
    expect(integ.lastError).toBe("Authorization expired or was revoked: reconnect");
    expect(await oauthStatus(userId, id)).toMatchObject({ state: "needs_reauth" });
    expect(await auditActions(id)).toContain("oauth.refresh_failed");
    // Reconnecting works and clears the state.
    await connectOAuth(userId, id);
    expect((await integration(id)).status).toBe("connected");
  });

  it("a revoked refresh token seen through the engine marks the integration needs_reauth", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    fx.revokeAllRefreshTokens();
    await expireGrant(id);
    const authProvider = await oauthProviderFor(userId, id);
    await expectAppError(connectMcp({ url: fx.mcpUrl, userId, authProvider: authProvider! }), "needs_reauth");
    expect((await integration(id)).status).toBe("needs_reauth");
  });

  it("a transient failure (AS 500, then unreachable) keeps the grant", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    const before = (await readGrant({ id, userId }))!;
    await pointEndpoint(id, "token_endpoint", `${await statusServer(500)}/token`);

    await expireGrant(id, 20_000); // due for refresh but still valid: the current token keeps working
    expect(await ensureFreshToken(userId, id)).toBe(before.tokens.access_token);
    await expireGrant(id); // expired: the failure is reported, but nothing is deleted
    await expectAppError(ensureFreshToken(userId, id), "refresh_failed");
    await pointEndpoint(id, "token_endpoint", "http://127.0.0.1:9/token"); // connection refused
    await expectAppError(ensureFreshToken(userId, id), "refresh_failed");

    const after = (await readGrant({ id, userId }))!;
    expect(after.tokens.refresh_token).toBe(before.tokens.refresh_token);
    const integ = await integration(id);
    expect(integ.status).not.toBe("needs_reauth");
    const db = await getDb();
    const failures = await db.auditEvent.findMany({
      where: { targetId: id, action: "oauth.refresh_failed" },
    });
    expect(failures.length).toBe(3);
    expect(failures.every((f) => (f.data as { transient?: boolean }).transient)).toBe(true);
  });
});

describe("disconnect", () => {
  it("deletes local tokens, then revokes the refresh token at the AS", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    const old = (await readGrant({ id, userId }))!;
    expect(await disconnectOAuth(userId, id)).toEqual({ revocation: "revoked" });
    expect(fx.stats.revocations).toBe(1);
    const db = await getDb();
    expect(await db.oAuthGrant.count({ where: { integrationId: id } })).toBe(0);
    // The AS revoked the whole grant: the old access token no longer opens the MCP server.
    const res = await fetch(fx.mcpUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${old.tokens.access_token}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(401);
    expect(await oauthStatus(userId, id)).toMatchObject({ state: "needs_auth" });
    expect(await auditActions(id)).toEqual(expect.arrayContaining(["oauth.disconnect", "oauth.revoke"]));
  });

  it("the grant is already gone when the revocation request arrives", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    let grantsAtRevocation = -1;
    const probe = await statusServer(200, async () => {
      const db = await getDb();
      grantsAtRevocation = await db.oAuthGrant.count({ where: { integrationId: id } });
    });
    await pointEndpoint(id, "revocation_endpoint", `${probe}/revoke`);
    expect(await disconnectOAuth(userId, id)).toEqual({ revocation: "revoked" });
    expect(grantsAtRevocation).toBe(0);
  });

  it("still deletes local tokens when revocation fails", async () => {
    const fx = await fixture();
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    await connectOAuth(userId, id);
    await pointEndpoint(id, "revocation_endpoint", "http://127.0.0.1:9/revoke");
    expect(await disconnectOAuth(userId, id)).toEqual({ revocation: "failed" });
    const db = await getDb();
    expect(await db.oAuthGrant.count({ where: { integrationId: id } })).toBe(0);
  });
});

describe("hostile authorization servers", () => {
  const cases: Array<{ hostile: OAuthHostileKind; code: string; withTemplate: boolean }> = [
    { hostile: "wrong-issuer", code: "issuer_mismatch", withTemplate: true },
    { hostile: "no-pkce", code: "pkce_unsupported", withTemplate: true },
    { hostile: "javascript-endpoint", code: "bad_metadata", withTemplate: true },
    { hostile: "resource-mismatch", code: "resource_mismatch", withTemplate: true },
    { hostile: "huge-metadata", code: "too_large", withTemplate: true },
    { hostile: "deep-metadata", code: "too_deep", withTemplate: true },
    { hostile: "deep-metadata", code: "too_deep", withTemplate: false },
    { hostile: "private-redirect", code: "registration_failed", withTemplate: false },
    { hostile: "wrong-issuer", code: "issuer_mismatch", withTemplate: false },
    { hostile: "no-pkce", code: "pkce_unsupported", withTemplate: false },
    { hostile: "resource-mismatch", code: "resource_mismatch", withTemplate: false },
  ];
  for (const c of cases) {
    it(`${c.hostile} (${c.withTemplate ? "template client" : "DCR"}) stops before anything secret is sent`, async () => {
      const secret = "tpl-secret-do-not-leak";
      const fx = await fixture({
        hostile: c.hostile,
        dcr: !c.withTemplate,
        clients: c.withTemplate ? [{ client_id: "poke-web", client_secret: secret }] : [],
      });
      const templateId = c.withTemplate
        ? await makeTemplate(fx, { clientId: "poke-web", secret })
        : undefined;
      const userId = await makeUser();
      const id = await makeIntegration(userId, fx.mcpUrl, templateId);
      const err = await expectAppError(
        startAuthorization({ userId, integrationId: id, browserBinding: BINDING }),
        c.code,
      );
      expect(fx.stats.tokenRequests).toBe(0);
      expect(fx.stats.registrations).toBe(0);
      expect(fx.stats.authorizations).toBe(0);
      expectNoSecretSent(fx, secret);
      const integ = await integration(id);
      expect(integ.status).toBe("error");
      expect(integ.lastError).toBe(err.message);
      expect(err.message).not.toMatch(/at .*\.ts:|\n/); // no stack traces
      expect(await auditActions(id)).toEqual(expect.arrayContaining([expect.stringMatching(/^oauth\./)]));
      const db = await getDb();
      expect(await db.oAuthPending.count({ where: { integrationId: id } })).toBe(0);
    });
  }

  it("wrong-iss: the mix-up is caught at the callback before the code is redeemed", async () => {
    const secret = "tpl-secret-do-not-leak";
    const fx = await fixture({
      hostile: "wrong-iss",
      dcr: false,
      clients: [{ client_id: "poke-web", client_secret: secret }],
    });
    const templateId = await makeTemplate(fx, { clientId: "poke-web", secret });
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl, templateId);
    const { callback } = await authorize(userId, id);
    expect(callback.searchParams.get("iss")).toBe("https://attacker.example");
    const r = await completeAuthorization({ userId, browserBinding: BINDING, params: callback.searchParams });
    expect(r).toMatchObject({ ok: false, error: "iss_mismatch" });
    expect(fx.stats.tokenRequests).toBe(0);
    expectNoSecretSent(fx, secret);
    expect((await integration(id)).status).toBe("error");
    expect(await auditActions(id)).toContain("oauth.rejected_metadata");
  });

  it("garbage-token: an unparseable token response stores nothing and is shown on the integration", async () => {
    const fx = await fixture({ hostile: "garbage-token" });
    const userId = await makeUser();
    const id = await makeIntegration(userId, fx.mcpUrl);
    const { callback } = await authorize(userId, id);
    const r = await completeAuthorization({ userId, browserBinding: BINDING, params: callback.searchParams });
    expect(r).toMatchObject({ ok: false, error: "token_exchange_failed" });
    const db = await getDb();
    expect(await db.oAuthGrant.count({ where: { integrationId: id } })).toBe(0);
    const integ = await integration(id);
    expect(integ.status).toBe("error");
    expect(integ.lastError).toMatch(/not valid JSON/);
    expect(await auditActions(id)).toContain("oauth.callback_failed");
  });
});

describe("engine and UI helpers", () => {
  it("oauthProviderFor is null and oauthStatus is null for a plain integration", async () => {
    const userId = await makeUser();
    const db = await getDb();
    const row = await db.integration.create({
      data: { userId, name: `plain-${++n}`, url: "http://127.0.0.1:1/mcp", status: "connected" },
    });
    expect(await oauthProviderFor(userId, row.id)).toBeNull();
    expect(await oauthStatus(userId, row.id)).toBeNull();
  });
});
