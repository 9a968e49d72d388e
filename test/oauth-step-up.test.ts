// Scope step-up for a person's grant, end to end against a real loopback authorization server, on PGlite and
// PostgreSQL (TEST_DB): a 403 insufficient_scope naming a scope the person already consented to is met by a
// refresh with the wider scope, without the person, and the call goes through; a scope beyond their consent
// is never refreshed for, and the person is asked once (Grant access), with the call not sent.
import { randomBytes } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { readGrant } from "@/lib/data/grants";
import { callTool } from "@/lib/mcp/pool";
import { completeAuthorization, startAuthorization } from "@/lib/oauth/flow";
import { oauthStatus } from "@/lib/oauth/grant";
import { followAuthorization, startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

const fixtures: OAuthFixture[] = [];
afterAll(async () => {
  await Promise.all(fixtures.map((f) => f.close()));
});

const unique = () => `${Date.now()}-${randomBytes(4).toString("hex")}`;

/** A person who authorized `scope` (through the real consent redirect) on a server guarding admin-echo. */
async function authorizedPerson(scope: string, withhold: string[] = []) {
  const fx = await startOAuthServer({
    scopes: ["mcp:read", "mcp:admin"],
    toolScopes: { "admin-echo": "mcp:admin" },
    withhold,
    mcp: { tools: "basic" },
  });
  fixtures.push(fx);
  fx.addTool("admin-echo");
  const db = await getDb();
  const userId = (await db.user.create({ data: { email: `step-up-${unique()}@example.com` } })).id;
  const integrationId = (
    await db.integration.create({
      data: { userId, name: `step-up-${unique()}`, url: fx.mcpUrl, status: "needs_auth" },
    })
  ).id;
  const browserBinding = randomBytes(32).toString("base64url");
  const { authorizationUrl } = await startAuthorization({ userId, integrationId, browserBinding, scope });
  const callback = await followAuthorization(authorizationUrl);
  const done = await completeAuthorization({ userId, browserBinding, params: callback.searchParams });
  expect(done.ok).toBe(true);
  return { fx, userId, integrationId };
}

it("a scope the person consented to is obtained by refresh, without them, and the call goes through", async () => {
  // The person consented to read and admin; the server issued read only (it may issue less than asked).
  const { fx, userId, integrationId } = await authorizedPerson("mcp:read mcp:admin", ["mcp:admin"]);
  const before = (await readGrant({ id: integrationId, userId }))!.tokens;
  expect(before.scope).toBe("mcp:read");
  expect(before.consented_scope).toBe("mcp:read mcp:admin");
  const authorizations = fx.stats.authorizations;

  const out = await callTool({ userId, integrationId }, "admin-echo", { text: "hi" });
  expect(out.result.isError).toBeFalsy();
  // One refresh asked for the wider scope and got it; the person was not sent to the consent page again.
  expect(fx.tokenLog.map((t) => [t.grantType, t.error])).toEqual([
    ["authorization_code", undefined],
    ["refresh_token", undefined],
  ]);
  expect(fx.stats.authorizations).toBe(authorizations);
  const after = (await readGrant({ id: integrationId, userId }))!.tokens;
  expect(after.scope).toBe("mcp:read mcp:admin");
  expect(fx.calls.filter((c) => c.name === "admin-echo")).toHaveLength(1);
  const status = await oauthStatus(userId, integrationId);
  expect(status).toMatchObject({ state: "authorized", missingScopes: [] });
  const db = await getDb();
  const audit = await db.auditEvent.findMany({ where: { actorId: userId, action: "oauth.step_up" } });
  expect(audit.map((a) => a.data)).toEqual([expect.objectContaining({ outcome: "granted", by: "refresh" })]);

  // The wider grant now serves later calls directly.
  await callTool({ userId, integrationId }, "admin-echo", { text: "again" });
  expect(fx.stats.refreshRequests).toBe(1);
});

it("a scope beyond the person's consent is never refreshed for: they are asked once, and the call is not sent", async () => {
  const { fx, userId, integrationId } = await authorizedPerson("mcp:read");
  await expectAppError(callTool({ userId, integrationId }, "admin-echo", {}), "insufficient_scope");
  await expectAppError(callTool({ userId, integrationId }, "admin-echo", {}), "insufficient_scope");
  expect(fx.stats.refreshRequests).toBe(0);
  expect(fx.calls.filter((c) => c.name === "admin-echo")).toEqual([]);
  // The integration shows Grant access for the one missing scope; nothing else changed in the grant.
  await waitFor(
    async () => (await oauthStatus(userId, integrationId))?.missingScopes.join(" ") === "mcp:admin",
    { what: "Grant access offered for mcp:admin" },
  );
  expect(await oauthStatus(userId, integrationId)).toMatchObject({
    state: "authorized",
    scopes: ["mcp:read"],
  });
  // Asked once: Grant access starts one authorization, for what is held plus what is missing.
  const { authorizationUrl } = await startAuthorization({
    userId,
    integrationId,
    browserBinding: randomBytes(32).toString("base64url"),
  });
  expect(new URL(authorizationUrl!).searchParams.get("scope")?.split(" ").sort()).toEqual([
    "mcp:admin",
    "mcp:read",
  ]);
});
