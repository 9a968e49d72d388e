// The OAuth extensions end to end against real loopback servers, on PGlite and PostgreSQL (TEST_DB):
// private_key_jwt client authentication (RFC 7523 §2.2) for pre-registered machine clients, enterprise-
// managed authorization (the person's OIDC ID token → RFC 8693 token exchange at the IdP → ID-JAG →
// RFC 7523 jwt-bearer grant at the integration's AS, no consent screen), and step-up without the person.
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authOptions } from "@/lib/auth/options";
import { getDb } from "@/lib/db";
import { setEnvForProcess } from "@/lib/env";
import { readIdToken } from "@/lib/data/identity-assertions";
import { readGrant, setCliClient } from "@/lib/data/grants";
import { callTool } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { parseClientPrivateKey } from "@/lib/oauth/client-key";
import { completeAuthorization, startAuthorization } from "@/lib/oauth/flow";
import { ensureFreshToken, oauthProviderFor } from "@/lib/oauth/grant";
import {
  followAuthorization,
  startOAuthServer,
  type OAuthFixture,
  type OAuthServerOptions,
} from "./fixtures/oauth-servers";
import { startOidcProvider, type OidcFixture } from "./fixtures/oidc-provider";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

const fixtures: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.all(fixtures.map((f) => f.close()));
});

async function fixture(o: OAuthServerOptions): Promise<OAuthFixture> {
  const fx = await startOAuthServer(o);
  fixtures.push(fx);
  return fx;
}

let n = 0;
const unique = () => `${++n}-${Date.now()}-${randomBytes(3).toString("hex")}`;

async function makeUser(email = `ext-${unique()}@example.com`): Promise<string> {
  const db = await getDb();
  return (await db.user.create({ data: { email } })).id;
}

async function makeIntegration(userId: string, url: string): Promise<string> {
  const db = await getDb();
  return (
    await db.integration.create({ data: { userId, name: `ext-${unique()}`, url, status: "needs_auth" } })
  ).id;
}

const binding = () => randomBytes(32).toString("base64url");

/** Connects (as the Authorize button does) and syncs the tools with the grant. */
async function authorize(userId: string, integrationId: string, scope?: string) {
  const { authorizationUrl } = await startAuthorization({
    userId,
    integrationId,
    browserBinding: binding(),
    scope,
  });
  return authorizationUrl;
}

async function sync(userId: string, integrationId: string) {
  const authProvider = (await oauthProviderFor(userId, integrationId)) ?? undefined;
  return syncIntegration(userId, integrationId, { authProvider });
}

// ---------------------------------------------------------------------------------------------------------

describe("private_key_jwt (machine clients)", () => {
  for (const kind of ["ec", "rsa"] as const) {
    it(`a ${kind === "ec" ? "ES256" : "RS256"} key authenticates the client; no secret is ever sent`, async () => {
      const pair =
        kind === "ec"
          ? generateKeyPairSync("ec", { namedCurve: "P-256" })
          : generateKeyPairSync("rsa", { modulusLength: 2048 });
      // The admin pastes the private key (here as a JWK for RSA, PEM for EC); Poke shows the public half.
      const supplied =
        kind === "ec"
          ? (pair.privateKey.export({ format: "pem", type: "sec1" }) as string)
          : JSON.stringify(pair.privateKey.export({ format: "jwk" }));
      const key = parseClientPrivateKey(supplied);
      expect(key.alg).toBe(kind === "ec" ? "ES256" : "RS256");
      expect(key.publicJwk.d).toBeUndefined();
      expect(key.publicJwk.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const fx = await fixture({
        clientCredentialsOnly: true,
        dcr: false,
        tokenEndpointAuthMethods: ["private_key_jwt"],
        // Registered at the AS from the public JWK Poke showed.
        clients: [{ client_id: `machine-${kind}`, jwk: key.publicJwk }],
      });
      const userId = await makeUser();
      const integrationId = await makeIntegration(userId, fx.mcpUrl);
      const db = await getDb();
      await setCliClient({ id: integrationId, userId }, { clientId: `machine-${kind}`, privateKey: key });

      expect(await authorize(userId, integrationId)).toBeNull(); // no person, no consent page
      expect(fx.tokenLog).toEqual([
        expect.objectContaining({ grantType: "client_credentials", authMethod: "private_key_jwt" }),
      ]);
      expect(fx.tokenLog[0].error).toBeUndefined();
      const diff = await sync(userId, integrationId);
      expect(diff.toolCount).toBeGreaterThan(0);

      // Expiry: Poke signs a fresh assertion and asks again (a replayed assertion would be refused).
      fx.expireAllAccessTokens();
      const row = await db.oAuthGrant.findFirstOrThrow({ where: { integrationId } });
      await db.oAuthGrant.update({ where: { id: row.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
      await ensureFreshToken(userId, integrationId);
      expect(fx.tokenLog.map((t) => [t.authMethod, t.error])).toEqual([
        ["private_key_jwt", undefined],
        ["private_key_jwt", undefined],
      ]);
      // Stored encrypted: the PEM is nowhere in the row.
      const client = await db.oAuthClient.findFirstOrThrow({ where: { integrationId, source: "cli" } });
      expect(client.privateKeyEnc).not.toContain("PRIVATE KEY");
      expect(client.keyAlg).toBe(key.alg);
    });
  }

  it("refuses keys it can't use, with a clear error", async () => {
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    }) as string;
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    }) as string;
    const pub = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
      format: "pem",
      type: "spki",
    }) as string;
    for (const bad of [weak, p384, pub, "not a key", "{}", ""]) {
      expect(() => parseClientPrivateKey(bad)).toThrow(/private key/);
    }
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    }) as string;
    expect(() => parseClientPrivateKey(ec, "RS256")).toThrow(/ES256 key, not RS256/);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("enterprise-managed authorization (ID-JAG)", () => {
  let idp: OidcFixture;
  beforeAll(async () => {
    idp = await startOidcProvider({ jagClientId: "poke-at-as" });
    fixtures.push(idp);
    setEnvForProcess({
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: idp.clientId,
      OIDC_CLIENT_SECRET: idp.clientSecret,
    });
  });
  afterAll(() => {
    setEnvForProcess({ OIDC_ISSUER: undefined, OIDC_CLIENT_ID: undefined, OIDC_CLIENT_SECRET: undefined });
  });

  /** The person signs in through the IdP as a browser would; the app's sign-in callback keeps the ID token. */
  async function signInThroughIdp(email: string): Promise<string> {
    const userId = await makeUser(email);
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const redirectUri = "http://localhost:3000/api/auth/callback/oidc";
    const start = new URL("/authorize", idp.issuer);
    for (const [k, v] of Object.entries({
      client_id: idp.clientId,
      redirect_uri: redirectUri,
      response_type: "code",
      code_challenge: challenge,
      code_challenge_method: "S256",
      scope: "openid email profile",
    }))
      start.searchParams.set(k, v);
    const page = await (await fetch(start)).text();
    const requestId = /name="request_id" value="([^"]+)"/.exec(page)![1];
    const back = await fetch(new URL("/authorize", idp.issuer), {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams({ request_id: requestId, email, email_verified: "true" }),
    });
    const code = new URL(back.headers.get("location")!).searchParams.get("code")!;
    const tokens = (await (
      await fetch(new URL("/token", idp.issuer), {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code,
          redirect_uri: redirectUri,
          code_verifier: verifier,
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
        }),
      })
    ).json()) as { id_token: string };
    const claims = JSON.parse(Buffer.from(tokens.id_token.split(".")[1], "base64url").toString());
    const ok = await authOptions().callbacks!.signIn!({
      user: { id: claims.sub, email },
      account: {
        provider: "oidc",
        type: "oauth",
        providerAccountId: claims.sub,
        id_token: tokens.id_token,
      },
      profile: { sub: claims.sub, email, email_verified: true } as never,
    });
    expect(ok).toBe(true);
    return userId;
  }

  async function enterpriseServer(codeFlowToo = false) {
    return fixture({
      enterprise: { idpIssuer: idp.issuer, idpPublicKey: idp.publicKey, codeFlowToo },
      dcr: false,
      clients: [{ client_id: "poke-at-as", client_secret: "as-secret" }],
    });
  }

  it("exchanges the person's ID token for an access token without a consent screen", async () => {
    const email = `xaa-${unique()}@example.com`;
    const userId = await signInThroughIdp(email);
    const stored = await readIdToken(userId);
    expect(stored).toMatch(/^ey/);
    const db = await getDb();
    const account = await db.account.findFirstOrThrow({ where: { userId, provider: "oidc" } });
    expect(account.idTokenEnc).not.toContain(stored!.slice(0, 20)); // encrypted at rest

    const fx = await enterpriseServer();
    const integrationId = await makeIntegration(userId, fx.mcpUrl);
    await setCliClient({ id: integrationId, userId }, { clientId: "poke-at-as", clientSecret: "as-secret" });
    expect(await authorize(userId, integrationId)).toBeNull();
    const sub = JSON.parse(Buffer.from(stored!.split(".")[1], "base64url").toString()).sub;
    expect(idp.exchanges.at(-1)).toMatchObject({ sub, audience: fx.issuer, resource: fx.mcpUrl });
    expect(idp.exchanges.at(-1)!.error).toBeUndefined();
    expect(fx.tokenLog.at(-1)).toMatchObject({ grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer" });
    expect(fx.tokenLog.at(-1)!.error).toBeUndefined();
    expect(fx.stats.authorizations).toBe(0);
    expect((await sync(userId, integrationId)).toolCount).toBeGreaterThan(0);

    // The token expires: a new assertion is exchanged, still without the person.
    const row = await db.oAuthGrant.findFirstOrThrow({ where: { integrationId } });
    await db.oAuthGrant.update({ where: { id: row.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const before = idp.exchanges.length;
    await ensureFreshToken(userId, integrationId);
    expect(idp.exchanges.length).toBe(before + 1);
  });

  it("prefers the assertion to a consent page when the server offers both, and falls back without one", async () => {
    const fx = await enterpriseServer(true);
    const withIdentity = await signInThroughIdp(`xaa-${unique()}@example.com`);
    const a = await makeIntegration(withIdentity, fx.mcpUrl);
    await setCliClient(
      { id: a, userId: withIdentity },
      { clientId: "poke-at-as", clientSecret: "as-secret" },
    );
    expect(await authorize(withIdentity, a)).toBeNull();

    // A person who signed in with a password has no assertion: the consent page, as for any server.
    const plain = await makeUser();
    const b = await makeIntegration(plain, fx.mcpUrl);
    await setCliClient({ id: b, userId: plain }, { clientId: "poke-at-as", clientSecret: "as-secret" });
    const url = await authorize(plain, b);
    expect(url).toMatch(/\/authorize\?/);
    expect(new URL(url!).searchParams.get("client_id")).toBe("poke-at-as");
  });

  it("an assertion-only server without the person's ID token says to sign in through the IdP", async () => {
    const fx = await enterpriseServer();
    const userId = await makeUser();
    const integrationId = await makeIntegration(userId, fx.mcpUrl);
    await setCliClient({ id: integrationId, userId }, { clientId: "poke-at-as", clientSecret: "as-secret" });
    await expectAppError(authorize(userId, integrationId), "needs_sign_in");
    expect(fx.tokenLog).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("step-up without the person", () => {
  it("a machine client obtains the wider scope itself, once, and the call goes through", async () => {
    const fx = await fixture({
      clientCredentialsOnly: true,
      dcr: false,
      scopes: ["mcp:read", "mcp:admin"],
      toolScopes: { "admin-echo": "mcp:admin" },
      mcp: { tools: "basic" },
      clients: [{ client_id: "m2m", client_secret: "m2m-secret" }],
    });
    fx.addTool("admin-echo");
    const userId = await makeUser();
    const integrationId = await makeIntegration(userId, fx.mcpUrl);
    await setCliClient({ id: integrationId, userId }, { clientId: "m2m", clientSecret: "m2m-secret" });
    expect(await authorize(userId, integrationId, "mcp:read")).toBeNull();
    await sync(userId, integrationId);
    expect((await readGrant({ id: integrationId, userId }))!.tokens.scope).toBe("mcp:read");
    const out = await callTool({ userId, integrationId }, "admin-echo", {});
    expect(out.result.isError).toBeFalsy();
    expect((await readGrant({ id: integrationId, userId }))!.tokens.scope).toBe("mcp:read mcp:admin");
    expect(fx.tokenLog.map((t) => t.grantType)).toEqual(["client_credentials", "client_credentials"]);
  });

  it("a person's grant is widened only within what they consented to; beyond it, they are asked", async () => {
    const fx = await fixture({
      scopes: ["mcp:read", "mcp:admin"],
      toolScopes: { "admin-echo": "mcp:admin" },
      mcp: { tools: "basic" },
    });
    fx.addTool("admin-echo");
    const userId = await makeUser();
    const integrationId = await makeIntegration(userId, fx.mcpUrl);
    const browserBinding = binding();
    const { authorizationUrl } = await startAuthorization({
      userId,
      integrationId,
      browserBinding,
      scope: "mcp:read",
    });
    const callback = await followAuthorization(authorizationUrl);
    const done = await completeAuthorization({ userId, browserBinding, params: callback.searchParams });
    expect(done.ok).toBe(true);
    const refreshes = fx.stats.refreshRequests;
    await expectAppError(callTool({ userId, integrationId }, "admin-echo", {}), "insufficient_scope");
    // Not consented: no refresh was attempted for it, and the integration offers Grant access.
    expect(fx.stats.refreshRequests).toBe(refreshes);
    const db = await getDb();
    await waitFor(
      async () =>
        (await db.integration.findUniqueOrThrow({ where: { id: integrationId } })).stepUpScope ===
        "mcp:admin",
      { what: "the step-up scope recorded" },
    );
    expect(fx.calls.filter((c) => c.name === "admin-echo")).toEqual([]);
  });
});
