// Kitchen install side on a real database with real fixture servers: the side-effect-free preview,
// idempotent installs, OAuth with a template's pre-registered client (AS without DCR), issuer binding,
// skipping and cancelling, and integrations following their template.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomToken } from "@/lib/crypto";
import { getDb } from "@/lib/db";
import type { SessionUser } from "@/lib/data/users";
import {
  cancelInstall,
  connectItem,
  getInstallView,
  skipItem,
  startInstall,
  submitApiKey,
} from "@/lib/kitchen/install";
import { createRecipe, previewRecipe, rotateShareLink } from "@/lib/kitchen/recipes";
import { createTemplate, deleteTemplate, updateTemplate } from "@/lib/kitchen/templates";
import { completeAuthorization, startAuthorization } from "@/lib/oauth/flow";
import type { TemplateInput } from "@/lib/schemas/kitchen";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { followAuthorization, startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import { expectAppError } from "./app-error";

const SECRET = "template-secret-xyz-123";
const BINDING = randomToken("", 32);

let n = 0;
async function makeUser(role: "admin" | "user" = "user"): Promise<SessionUser> {
  const db = await getDb();
  return db.user.create({
    data: { email: `ki${++n}-${Date.now()}@example.com`, role },
    select: { id: true, email: true, name: true, role: true },
  });
}

let admin: SessionUser;
let plain: McpFixture;
let keyed: McpFixture;
let moved: McpFixture;
let fx: OAuthFixture;
const servers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  admin = await makeUser("admin");
  plain = await startMcpServer({ name: "plain" });
  keyed = await startMcpServer({ apiKey: "user-key-1" });
  moved = await startMcpServer({ name: "moved" });
  fx = await startOAuthServer({
    dcr: false,
    clients: [
      { client_id: "poke-kitchen", client_secret: SECRET, token_endpoint_auth_method: "client_secret_basic" },
    ],
    consent: "page",
  });
  servers.push(plain, keyed, moved, fx);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const oauthTemplate = (over: Partial<TemplateInput> = {}): TemplateInput => ({
  name: `Docs ${++n}`,
  serverUrl: fx.mcpUrl,
  authKind: "oauth",
  clientId: "poke-kitchen",
  clientSecret: SECRET,
  tokenEndpointAuthMethod: "client_secret_basic",
  scopes: "mcp:read",
  ...over,
});

async function recipeOf(items: { templateId: string; required?: boolean }[]) {
  const { recipe, shareUrl } = await createRecipe(admin, { name: `R ${++n}`, items });
  return { recipe, token: shareUrl.split("/r/")[1] };
}

/** What the browser does after "Authorize": start, consent on the AS's page, callback. */
async function authorize(userId: string, integrationId: string) {
  const { authorizationUrl } = await startAuthorization({ userId, integrationId, browserBinding: BINDING });
  const callback = await followAuthorization(authorizationUrl);
  return completeAuthorization({ userId, browserBinding: BINDING, params: callback.searchParams });
}

async function snapshot() {
  const db = await getDb();
  return Promise.all([
    db.integration.count(),
    db.recipeInstall.count(),
    db.auditEvent.count(),
    db.oAuthPending.count(),
    db.recipe.findMany({ select: { updatedAt: true } }),
  ]);
}

describe("preview", () => {
  it("shows origins and scopes without any write or outbound request", async () => {
    const t = await createTemplate(admin, oauthTemplate({ scopes: "mcp:read mcp:write" }));
    const p = await createTemplate(admin, { name: `Plain ${++n}`, serverUrl: plain.url, authKind: "none" });
    const { token } = await recipeOf([{ templateId: t.id }, { templateId: p.id, required: false }]);
    const user = await makeUser();
    const before = await snapshot();
    const [fxSeen, plainSeen] = [fx.requests.length, plain.requests.length];

    const preview = await previewRecipe(token);
    expect(preview.items).toMatchObject([
      {
        name: t.name,
        origin: fx.origin,
        scopes: ["mcp:read", "mcp:write"],
        required: true,
        authKind: "oauth",
      },
      { name: p.name, origin: plain.origin, scopes: [], required: false, authKind: "none" },
    ]);
    const view = await getInstallView(user, token);
    expect(view.started).toBe(false);
    expect(view.items.map((i) => i.status)).toEqual(["not_started", "not_started"]);

    expect(await snapshot()).toEqual(before);
    expect([fx.requests.length, plain.requests.length]).toEqual([fxSeen, plainSeen]);
  });
});

describe("install", () => {
  it("connects a recipe with an OAuth template (no DCR) and a no-auth server; a second install changes nothing", async () => {
    const t = await createTemplate(admin, oauthTemplate());
    const p = await createTemplate(admin, { name: `Plain ${++n}`, serverUrl: plain.url, authKind: "none" });
    const { token, recipe } = await recipeOf([{ templateId: p.id }, { templateId: t.id }]);
    const user = await makeUser();
    const fxSeen = fx.requests.length;

    let view = await startInstall(user, { token });
    expect(view.started).toBe(true);
    expect(view.items.map((i) => i.status)).toEqual(["connected", "action"]);
    expect(view.items[0].toolCount).toBeGreaterThan(0);
    expect(view.nextTemplateId).toBe(t.id);
    // The OAuth item waits for the person: nothing was sent to its server yet.
    expect(fx.requests.length).toBe(fxSeen);
    const oauthItem = view.items[1];
    expect(oauthItem.integrationId).toBeTruthy();

    const db = await getDb();
    const integ = await db.integration.findUniqueOrThrow({ where: { id: oauthItem.integrationId! } });
    expect(integ).toMatchObject({
      templateId: t.id,
      url: fx.mcpUrl,
      authKind: "oauth",
      status: "needs_auth",
    });

    const result = await authorize(user.id, integ.id);
    expect(result).toMatchObject({ ok: true, integrationId: integ.id });
    expect(fx.stats.registrations).toBe(0);
    expect(fx.tokenLog.at(-1)).toMatchObject({ grantType: "authorization_code", clientId: "poke-kitchen" });
    // The template's credentials are now bound to the issuer that accepted them.
    expect((await db.template.findUniqueOrThrow({ where: { id: t.id } })).issuer).toBe(fx.issuer);

    view = await getInstallView(user, token);
    expect(view.items.map((i) => i.status)).toEqual(["connected", "connected"]);
    expect(view.done).toBe(true);
    expect(view.items[1].toolCount).toBeGreaterThan(0);

    // Idempotent: the same integrations, one install record, no new rows.
    const count = await db.integration.count({ where: { userId: user.id } });
    view = await startInstall(user, { token });
    expect(view.done).toBe(true);
    expect(await db.integration.count({ where: { userId: user.id } })).toBe(count);
    expect(await db.recipeInstall.count({ where: { userId: user.id, recipeId: recipe.id } })).toBe(1);
    const stored = await db.recipeInstall.findFirstOrThrow({ where: { userId: user.id } });
    expect(stored.state).toBe("done");
    expect(stored.progress).toEqual({ [p.id]: "connected", [t.id]: "connected" });
  });

  it("concurrent installs create one integration per template", async () => {
    const p = await createTemplate(admin, { name: `Race ${++n}`, serverUrl: plain.url, authKind: "none" });
    const { token } = await recipeOf([{ templateId: p.id }]);
    const user = await makeUser();
    await Promise.all([
      startInstall(user, { token }),
      startInstall(user, { token }),
      startInstall(user, { token }),
    ]);
    const db = await getDb();
    expect(await db.integration.count({ where: { userId: user.id, templateId: p.id } })).toBe(1);
    expect(await db.recipeInstall.count({ where: { userId: user.id } })).toBe(1);
  });

  it("names the integration after the template, avoiding the person's existing names", async () => {
    const p = await createTemplate(admin, { name: `Named ${++n}`, serverUrl: plain.url, authKind: "none" });
    const { token } = await recipeOf([{ templateId: p.id }]);
    const user = await makeUser();
    const db = await getDb();
    await db.integration.create({ data: { userId: user.id, name: p.name, url: plain.url } });
    const view = await startInstall(user, { token });
    expect(view.items[0].integrationName).toBe(`${p.name} 2`);
  });

  it("asks API-key items for the person's key, stores it encrypted, and connects", async () => {
    const k = await createTemplate(admin, {
      name: `Keyed ${++n}`,
      serverUrl: keyed.url,
      authKind: "api_key",
    });
    const { token } = await recipeOf([{ templateId: k.id }]);
    const user = await makeUser();
    let view = await startInstall(user, { token });
    expect(view.items[0]).toMatchObject({ status: "action", integrationId: null });
    const wrong = await submitApiKey(user, { token, templateId: k.id, apiKey: "wrong-key" });
    expect(wrong.result.error?.message).toMatch(/401|API key/);
    expect(wrong.view.items[0].status).toBe("error");
    const right = await submitApiKey(user, { token, templateId: k.id, apiKey: "user-key-1" });
    expect(right.result.error).toBeUndefined();
    view = right.view;
    expect(view.items[0].status).toBe("connected");
    expect(view.done).toBe(true);
    const db = await getDb();
    const rows = await db.integration.findMany({ where: { userId: user.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0].apiKeyEnc).not.toContain("user-key-1");
  });

  it("skips optional items, refuses to skip required ones, and cancel leaves no half-made integrations", async () => {
    const t = await createTemplate(admin, oauthTemplate());
    const p = await createTemplate(admin, { name: `Opt ${++n}`, serverUrl: plain.url, authKind: "none" });
    const { token } = await recipeOf([{ templateId: t.id }, { templateId: p.id, required: false }]);
    const user = await makeUser();
    await expectAppError(startInstall(user, { token, skip: [t.id] }), "required_item", /required/);
    const db = await getDb();
    expect(await db.recipeInstall.count({ where: { userId: user.id } })).toBe(0);

    let view = await startInstall(user, { token, skip: [p.id] });
    expect(view.items.map((i) => i.status)).toEqual(["action", "skipped"]);
    expect(await db.integration.count({ where: { userId: user.id, templateId: p.id } })).toBe(0);
    await expectAppError(skipItem(user, { token, templateId: t.id }), "required_item");
    // Changing one's mind: connect the skipped item after all.
    view = (await connectItem(user, { token, templateId: p.id })).view;
    expect(view.items.map((i) => i.status)).toEqual(["action", "connected"]);

    // Interrupted before authorizing: cancel removes the never-connected OAuth integration only.
    const { removed } = await cancelInstall(user, { token });
    expect(removed).toBe(1);
    expect(await db.integration.count({ where: { userId: user.id, templateId: t.id } })).toBe(0);
    expect(await db.integration.count({ where: { userId: user.id, templateId: p.id } })).toBe(1);
    expect(await db.recipeInstall.count({ where: { userId: user.id } })).toBe(0);
    expect((await getInstallView(user, token)).started).toBe(false);
  });

  it("a rotated or disabled link stops installs as well as previews", async () => {
    const p = await createTemplate(admin, { name: `Rot ${++n}`, serverUrl: plain.url, authKind: "none" });
    const { token, recipe } = await recipeOf([{ templateId: p.id }]);
    await rotateShareLink(admin, recipe.id);
    const user = await makeUser();
    await expectAppError(startInstall(user, { token }), "invalid_link", /not valid/);
    await expectAppError(getInstallView(user, token), "invalid_link");
    const db = await getDb();
    expect(await db.integration.count({ where: { userId: user.id } })).toBe(0);
  });
});

describe("integrations follow their template", () => {
  it("fails closed when the credentials are bound to another issuer: the secret is never sent", async () => {
    const t = await createTemplate(admin, oauthTemplate({ issuer: "https://previous-as.example" }));
    const { token } = await recipeOf([{ templateId: t.id }]);
    const user = await makeUser();
    const view = await startInstall(user, { token });
    const id = view.items[0].integrationId!;
    const seen = fx.requests.length;
    await expectAppError(
      startAuthorization({ userId: user.id, integrationId: id, browserBinding: BINDING }),
      "issuer_mismatch",
    );
    for (const r of fx.requests.slice(seen)) {
      expect(r.headers.authorization ?? "").not.toMatch(/^basic /i);
      expect(JSON.stringify(r)).not.toContain(SECRET);
    }
    const after = await getInstallView(user, token);
    expect(after.items[0].status).toBe("error");
    expect(after.items[0].error).toMatch(/different authorization server/);
  });

  it("new credentials ask every OAuth integration to reconnect; the grant is dropped", async () => {
    const t = await createTemplate(admin, oauthTemplate());
    const { token } = await recipeOf([{ templateId: t.id }]);
    const user = await makeUser();
    const id = (await startInstall(user, { token })).items[0].integrationId!;
    expect((await authorize(user.id, id)).ok).toBe(true);
    const db = await getDb();
    expect(await db.oAuthGrant.count({ where: { integrationId: id } })).toBe(1);

    const { followed } = await updateTemplate(admin, t.id, {
      ...oauthTemplate({ name: t.name, clientSecret: "rotated-secret", issuer: fx.issuer }),
    });
    expect(followed).toMatchObject({ integrations: 1, reauthorize: 1 });
    expect(await db.oAuthGrant.count({ where: { integrationId: id } })).toBe(0);
    const integ = await db.integration.findUniqueOrThrow({ where: { id } });
    expect(integ.status).toBe("needs_reauth");
    expect(integ.lastError).toMatch(/reconnect/);
    const view = await getInstallView(user, token);
    expect(view.items[0]).toMatchObject({ status: "action", reauthorize: true });
    // A description-only change touches no integration.
    const quiet = await updateTemplate(
      admin,
      t.id,
      oauthTemplate({ name: t.name, clientSecret: "", issuer: fx.issuer, description: "x" }),
    );
    expect(quiet.followed.integrations).toBe(0);
  });

  it("a new URL moves no-auth integrations and re-syncs them", async () => {
    const p = await createTemplate(admin, { name: `Mover ${++n}`, serverUrl: plain.url, authKind: "none" });
    const { token } = await recipeOf([{ templateId: p.id }]);
    const user = await makeUser();
    const id = (await startInstall(user, { token })).items[0].integrationId!;
    const seen = moved.requests.length;
    const { followed } = await updateTemplate(admin, p.id, {
      name: p.name,
      serverUrl: moved.url,
      authKind: "none",
    });
    expect(followed).toMatchObject({ integrations: 1, resynced: 1, reauthorize: 0 });
    const db = await getDb();
    const integ = await db.integration.findUniqueOrThrow({ where: { id } });
    expect(integ).toMatchObject({ url: moved.url, status: "connected", serverName: "moved" });
    expect(moved.requests.length).toBeGreaterThan(seen);
    const audit = await db.auditEvent.findFirst({
      where: { targetId: p.id, action: "kitchen.template.followed" },
    });
    expect(audit?.actorId).toBe(admin.id);
  });

  it("deleting a template detaches its integrations and says why on OAuth ones", async () => {
    const t = await createTemplate(admin, oauthTemplate());
    const { token, recipe } = await recipeOf([{ templateId: t.id }]);
    const user = await makeUser();
    const id = (await startInstall(user, { token })).items[0].integrationId!;
    const db = await getDb();
    await db.recipe.delete({ where: { id: recipe.id } });
    expect(await deleteTemplate(admin, t.id)).toEqual({ detached: 1 });
    const integ = await db.integration.findUniqueOrThrow({ where: { id } });
    expect(integ.templateId).toBeNull();
    expect(integ.status).toBe("error");
    expect(integ.lastError).toMatch(/was deleted/);
  });
});
