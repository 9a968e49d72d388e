// How the engine recognizes OAuth and widens a grant: a 401 that names no metadata URL, a plain 401 from a
// server without metadata, and 403 insufficient_scope step-up through the pool to a wider authorization.
import { afterAll, expect, it } from "vitest";
import { randomToken } from "@/lib/crypto";
import { getDb } from "@/lib/db";
import { UNAUTHORIZED_NO_KEY_MESSAGE } from "@/lib/mcp/errors";
import { callTool, closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { completeAuthorization, startAuthorization, syncAfterAuthorization } from "@/lib/oauth/flow";
import { oauthProviderFor, oauthStatus } from "@/lib/oauth/grant";
import { readGrant, setCliClient } from "@/lib/data/grants";
import { startMcpServer } from "./fixtures/mcp-servers";
import { followAuthorization, startOAuthServer, type OAuthServerOptions } from "./fixtures/oauth-servers";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  await closeAll();
  await Promise.all(closers.map((c) => c()));
});

async function oauthFixture(o: OAuthServerOptions) {
  const fx = await startOAuthServer(o);
  closers.push(() => fx.close());
  return fx;
}

let n = 0;
async function makeUserAndIntegration(url: string) {
  const db = await getDb();
  const user = await db.user.create({ data: { email: `discovery${++n}-${Date.now()}@example.com` } });
  const integ = await db.integration.create({ data: { userId: user.id, name: `disc-${n}`, url } });
  return { userId: user.id, id: integ.id };
}

const BINDING = randomToken("", 32);

async function authorize(userId: string, integrationId: string, scope?: string) {
  const { authorizationUrl } = await startAuthorization({
    userId,
    integrationId,
    browserBinding: BINDING,
    scope,
  });
  const callback = await followAuthorization(authorizationUrl);
  const result = await completeAuthorization({
    userId,
    browserBinding: BINDING,
    params: callback.searchParams,
  });
  expect(result).toMatchObject({ ok: true, integrationId });
  return new URL(authorizationUrl!);
}

it("a 401 that names no resource_metadata is still OAuth when the well-known metadata says so", async () => {
  const fx = await oauthFixture({ bareChallenge: true });
  const { userId, id } = await makeUserAndIntegration(fx.mcpUrl);
  await expectAppError(syncIntegration(userId, id), "needs_auth");
  const db = await getDb();
  expect((await db.integration.findUniqueOrThrow({ where: { id } })).status).toBe("needs_auth");
  await authorize(userId, id);
  const row = await db.integration.findUniqueOrThrow({ where: { id } });
  expect(row.status).toBe("connected");
  expect(await db.tool.count({ where: { integrationId: id } })).toBeGreaterThan(0);
});

it("a plain 401 from a server without any metadata offers an API key or OAuth", async () => {
  const srv = await startMcpServer({ apiKey: "sk-right" });
  closers.push(() => srv.close());
  const { userId, id } = await makeUserAndIntegration(srv.url);
  const err = await expectAppError(syncIntegration(userId, id), "unauthorized");
  expect(err.message).toBe(UNAUTHORIZED_NO_KEY_MESSAGE);
  const db = await getDb();
  expect((await db.integration.findUniqueOrThrow({ where: { id } })).lastError).toBe(
    UNAUTHORIZED_NO_KEY_MESSAGE,
  );
});

it("403 insufficient_scope is recorded, shown, and the next authorization asks for the union", async () => {
  const fx = await oauthFixture({ scopes: ["mcp:read", "mcp:write"], toolScopes: { echo: "mcp:write" } });
  const { userId, id } = await makeUserAndIntegration(fx.mcpUrl);
  const first = await authorize(userId, id, "mcp:read");
  expect(first.searchParams.get("scope")).toBe("mcp:read");
  expect((await readGrant({ id, userId }))?.tokens.scope).toBe("mcp:read");

  const ctx = { userId, integrationId: id };
  const denied = await expectAppError(callTool(ctx, "echo", { text: "hi" }), "insufficient_scope");
  expect(denied.details).toMatchObject({ scope: "mcp:write" });
  // The scope the server asked for is recorded off the call's path.
  await waitFor(async () => (await oauthStatus(userId, id))?.missingScopes.includes("mcp:write"), {
    what: "the missing scope recorded",
  });
  expect((await oauthStatus(userId, id))?.missingScopes).toEqual(["mcp:write"]);
  // The integration as a whole still works: only that tool needs more.
  const db = await getDb();
  expect((await db.integration.findUniqueOrThrow({ where: { id } })).status).toBe("connected");

  // "Grant access": a plain start (as the page's button) requests what is held plus what is missing.
  const second = await authorize(userId, id);
  expect(second.searchParams.get("scope")?.split(" ").sort()).toEqual(["mcp:read", "mcp:write"]);
  expect((await readGrant({ id, userId }))?.tokens.scope?.split(" ").sort()).toEqual([
    "mcp:read",
    "mcp:write",
  ]);
  expect((await oauthStatus(userId, id))?.missingScopes).toEqual([]);
  expect((await db.integration.findUniqueOrThrow({ where: { id } })).stepUpScope).toBeNull();

  expect(await oauthProviderFor(userId, id)).not.toBeNull();
  const ok = await callTool(ctx, "echo", { text: "hi" });
  expect(ok.result.isError).toBeFalsy();
});

it("a server can't grow the step-up request without bound: invalid scope tokens are ignored", async () => {
  const { requiredScopeOf } = await import("@/lib/mcp/errors");
  expect(requiredScopeOf('a b"c')).toBeUndefined();
  expect(requiredScopeOf(Array.from({ length: 40 }, (_, i) => `s${i}`).join(" "))).toBeUndefined();
  expect(requiredScopeOf("mcp:write  mcp:write files:read")).toBe("mcp:write files:read");
});

it("a machine-to-machine authorization server issues tokens to pre-registered credentials without consent", async () => {
  const fx = await oauthFixture({
    dcr: false,
    clientCredentialsOnly: true,
    clients: [
      { client_id: "m2m", client_secret: "m2m-secret", token_endpoint_auth_method: "client_secret_basic" },
    ],
  });
  const { userId, id } = await makeUserAndIntegration(fx.mcpUrl);
  await expectAppError(syncIntegration(userId, id), "needs_auth");
  await setCliClient({ id, userId }, { clientId: "m2m", clientSecret: "m2m-secret" });

  const { authorizationUrl } = await startAuthorization({
    userId,
    integrationId: id,
    browserBinding: BINDING,
  });
  expect(authorizationUrl).toBeNull();
  expect(await syncAfterAuthorization(userId, id)).toBeDefined();
  const db = await getDb();
  expect((await db.integration.findUniqueOrThrow({ where: { id } })).status).toBe("connected");
  expect(fx.tokenLog.map((t) => t.grantType)).toEqual(["client_credentials"]);
  expect(fx.stats.registrations).toBe(0);

  const ctx = { userId, integrationId: id };
  expect((await callTool(ctx, "echo", { text: "one" })).result.isError).toBeFalsy();
  // Expired at the server: the 401 makes Poke ask for a new token with the same credentials.
  fx.expireAllAccessTokens();
  expect((await callTool(ctx, "echo", { text: "two" })).result.isError).toBeFalsy();
  expect(fx.tokenLog.map((t) => t.grantType)).toEqual(["client_credentials", "client_credentials"]);
  expect(fx.tokenLog.every((t) => t.authMethod === "client_secret_basic")).toBe(true);
});
