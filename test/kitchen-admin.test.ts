// Kitchen admin side on a real database: templates (validation, write-only secret), recipes, share links,
// and the admin boundary at every data function and server action.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { aad, decryptField, hashSecret } from "@/lib/crypto";
import { getDb } from "@/lib/db";
import { testTemplate } from "@/lib/kitchen/probe";
import {
  createRecipe,
  deleteRecipe,
  getRecipe,
  listRecipes,
  previewRecipe,
  rotateShareLink,
  setShareEnabled,
  updateRecipe,
} from "@/lib/kitchen/recipes";
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  templateChoices,
  updateTemplate,
} from "@/lib/kitchen/templates";
import type { TemplateInput } from "@/lib/schemas/kitchen";
import type { SessionUser } from "@/lib/data/users";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { expectAppError } from "./app-error";

const SECRET = "kitchen-s3cret-VALUE-42";

// The server actions read the session through currentUser(); tests choose who is "signed in".
const session = vi.hoisted(() => ({ user: null as SessionUser | null }));
vi.mock("@/lib/auth/session", () => ({
  currentUser: async () => session.user,
  requireUser: async () => session.user,
  requireAdmin: async () => session.user,
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {} }));

let n = 0;
async function makeUser(role: "admin" | "user"): Promise<SessionUser> {
  const db = await getDb();
  return db.user.create({
    data: { email: `k${++n}-${Date.now()}@example.com`, role },
    select: { id: true, email: true, name: true, role: true },
  });
}

const base = (over: Partial<TemplateInput> = {}): TemplateInput => ({
  name: `Tpl ${++n}`,
  serverUrl: "https://mcp.example.com/mcp",
  authKind: "oauth",
  clientId: "poke-client",
  clientSecret: SECRET,
  scopes: "read  write",
  ...over,
});

let admin: SessionUser;
let user: SessionUser;
let mcp: McpFixture;
beforeAll(async () => {
  admin = await makeUser("admin");
  user = await makeUser("user");
  mcp = await startMcpServer();
});
afterAll(async () => {
  await mcp?.close();
});

describe("templates", () => {
  it("stores the client secret encrypted (row-bound AAD) and never returns it", async () => {
    const t = await createTemplate(admin, base());
    expect(t.hasClientSecret).toBe(true);
    expect(t.scopes).toBe("read write");
    expect(t.slug).toMatch(/^tpl-\d+$/);
    const db = await getDb();
    const row = await db.template.findUniqueOrThrow({ where: { id: t.id } });
    expect(row.clientSecretEnc).not.toContain(SECRET);
    expect(decryptField(row.clientSecretEnc!, aad("Template", "clientSecretEnc", t.id))).toBe(SECRET);
    // Bound to its row: the same ciphertext can't be read as another template's secret.
    expect(() => decryptField(row.clientSecretEnc!, aad("Template", "clientSecretEnc", "other"))).toThrow();

    const everything = JSON.stringify([
      t,
      await getTemplate(admin, t.id),
      await listTemplates(admin),
      await templateChoices(admin),
      await updateTemplate(admin, t.id, { ...base({ name: t.name }), clientSecret: "" }),
      await db.auditEvent.findMany({ where: { targetId: t.id } }),
    ]);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(row.clientSecretEnc);
    expect(everything).not.toContain("clientSecretEnc");
  });

  it("keeps the secret when the field is empty, replaces or removes it on request", async () => {
    const t = await createTemplate(admin, base());
    const db = await getDb();
    const enc = async () => (await db.template.findUniqueOrThrow({ where: { id: t.id } })).clientSecretEnc;
    const first = await enc();
    await updateTemplate(admin, t.id, base({ name: t.name, clientSecret: "", description: "changed" }));
    expect(await enc()).toBe(first);
    await updateTemplate(admin, t.id, base({ name: t.name, clientSecret: "new-secret-2" }));
    const replaced = await enc();
    expect(replaced).not.toBe(first);
    expect(decryptField(replaced!, aad("Template", "clientSecretEnc", t.id))).toBe("new-secret-2");
    const audit = await db.auditEvent.findFirst({
      where: { targetId: t.id, action: "kitchen.template.update" },
      orderBy: { createdAt: "desc" },
    });
    expect(audit?.actorId).toBe(admin.id);
    expect(JSON.stringify(audit?.data)).toContain("clientSecret");
    expect(JSON.stringify(audit?.data)).not.toContain("new-secret-2");
    const cleared = await updateTemplate(
      admin,
      t.id,
      base({ name: t.name, clientSecret: "", clearClientSecret: true }),
    );
    expect(cleared.template.hasClientSecret).toBe(false);
    expect(await enc()).toBeNull();
  });

  it("allows templates without OAuth and drops OAuth settings from them", async () => {
    const none = await createTemplate(admin, base({ authKind: "none", clientSecret: "ignored-secret" }));
    expect(none).toMatchObject({ authKind: "none", clientId: null, hasClientSecret: false, scopes: null });
    const key = await createTemplate(admin, { name: `Key ${++n}`, serverUrl: mcp.url, authKind: "api_key" });
    expect(key.authKind).toBe("api_key");
    // OAuth without a client id means dynamic registration: allowed.
    const dcr = await createTemplate(admin, base({ clientId: "", clientSecret: "" }));
    expect(dcr).toMatchObject({ clientId: null, hasClientSecret: false });
  });

  it("refuses bad input with clear messages and writes nothing", async () => {
    const db = await getDb();
    const before = await db.template.count();
    await expectAppError(
      createTemplate(admin, base({ serverUrl: "not a url" })),
      "invalid_input",
      /not a valid URL/,
    );
    await expectAppError(
      createTemplate(admin, base({ serverUrl: "ftp://x.example/mcp" })),
      "invalid_input",
      /http/,
    );
    await expectAppError(
      createTemplate(admin, base({ serverUrl: "https://user:pw@x.example/mcp" })),
      "invalid_input",
      /user name and password/,
    );
    const t = await createTemplate(admin, base({ name: "Unique Name" }));
    await expectAppError(
      createTemplate(admin, base({ name: "unique name" })),
      "invalid_input",
      /already exists/,
    );
    await expectAppError(
      createTemplate(admin, base({ slug: t.slug })),
      "invalid_input",
      /slug .* already used/,
    );
    await expectAppError(
      createTemplate(admin, base({ clientId: "", clientSecret: "lonely" })),
      "invalid_input",
      /needs a client ID/,
    );
    await expectAppError(
      createTemplate(admin, base({ clientSecret: "", tokenEndpointAuthMethod: "client_secret_basic" })),
      "invalid_input",
      /needs a client secret/,
    );
    await expectAppError(
      createTemplate(admin, base({ resourceMode: "override" })),
      "invalid_input",
      /resource/,
    );
    await expectAppError(
      createTemplate(admin, base({ issuer: "javascript:alert(1)" })),
      "invalid_input",
      /issuer must be an https/,
    );
    await expect(createTemplate(admin, base({ extraAuthParams: "client_id=evil" }))).rejects.toThrow(
      /set by Poke/,
    );
    await expect(createTemplate(admin, base({ name: "" }))).rejects.toThrow(/name/);
    await expect(createTemplate(admin, base({ iconUrl: "javascript:alert(1)" }))).rejects.toThrow(/icon/);
    expect(await db.template.count()).toBe(before + 1);
  });

  it("refuses to delete a template used by a recipe, naming the recipe", async () => {
    const t = await createTemplate(admin, base());
    const { recipe } = await createRecipe(admin, { name: `Uses ${t.name}`, items: [{ templateId: t.id }] });
    await expectAppError(deleteTemplate(admin, t.id), "template_in_use", new RegExp(`"Uses ${t.name}"`));
    await deleteRecipe(admin, recipe.id);
    await deleteTemplate(admin, t.id);
    await expectAppError(getTemplate(admin, t.id), "not_found");
  });
});

describe("recipes and share links", () => {
  it("stores only the link's hash; rotation and disabling make old links invalid", async () => {
    const a = await createTemplate(admin, base());
    const b = await createTemplate(admin, base({ authKind: "none" }));
    const { recipe, shareUrl } = await createRecipe(admin, {
      name: `Recipe ${++n}`,
      description: "Two servers",
      items: [
        { templateId: b.id, required: false },
        { templateId: a.id, required: true },
      ],
    });
    const token = shareUrl.split("/r/")[1];
    expect(shareUrl).toBe(`http://localhost:3999/r/${token}`);
    expect(token).toMatch(/^rcp_[A-Za-z0-9_-]{43}$/); // 256 random bits
    const db = await getDb();
    const row = await db.recipe.findUniqueOrThrow({ where: { id: recipe.id } });
    expect(row.shareTokenHash).toBe(hashSecret(token));
    expect(JSON.stringify(row)).not.toContain(token);
    expect(
      JSON.stringify([recipe, await getRecipe(admin, recipe.id), await listRecipes(admin)]),
    ).not.toContain(token);
    expect(recipe.items.map((i) => [i.name, i.required])).toEqual([
      [b.name, false],
      [a.name, true],
    ]);

    const preview = await previewRecipe(token);
    expect(preview.items.map((i) => i.origin)).toEqual([
      "https://mcp.example.com",
      "https://mcp.example.com",
    ]);
    expect(preview.items[1].scopes).toEqual(["read", "write"]);

    const { shareUrl: rotated } = await rotateShareLink(admin, recipe.id);
    const token2 = rotated.split("/r/")[1];
    expect(token2).not.toBe(token);
    await expectAppError(previewRecipe(token), "invalid_link", /not valid/);
    expect((await previewRecipe(token2)).id).toBe(recipe.id);

    await setShareEnabled(admin, recipe.id, false);
    await expectAppError(previewRecipe(token2), "invalid_link");
    await setShareEnabled(admin, recipe.id, true);
    expect((await previewRecipe(token2)).id).toBe(recipe.id);
    await expectAppError(previewRecipe("rcp_" + "A".repeat(43)), "invalid_link");
    await expectAppError(previewRecipe("garbage"), "invalid_link");

    const actions = (await db.auditEvent.findMany({ where: { targetId: recipe.id } })).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        "kitchen.recipe.create",
        "kitchen.recipe.rotate_link",
        "kitchen.recipe.disable_link",
        "kitchen.recipe.enable_link",
      ]),
    );
    expect(JSON.stringify(await db.auditEvent.findMany())).not.toContain(token2);
  });

  it("refuses an empty recipe, unknown templates, duplicates and duplicate names", async () => {
    const t = await createTemplate(admin, base());
    await expect(createRecipe(admin, { name: "Empty", items: [] })).rejects.toThrow(/at least one template/);
    await expectAppError(
      createRecipe(admin, { name: "Ghost", items: [{ templateId: "no-such-template" }] }),
      "invalid_input",
      /no longer exists/,
    );
    await expect(
      createRecipe(admin, { name: "Twice", items: [{ templateId: t.id }, { templateId: t.id }] }),
    ).rejects.toThrow(/only once/);
    const { recipe } = await createRecipe(admin, { name: "Taken Name", items: [{ templateId: t.id }] });
    await expectAppError(
      createRecipe(admin, { name: "taken name", items: [{ templateId: t.id }] }),
      "invalid_input",
      /already exists/,
    );
    await expect(updateRecipe(admin, recipe.id, { name: "Taken Name", items: [] })).rejects.toThrow(
      /at least one/,
    );
    expect((await getRecipe(admin, recipe.id)).items).toHaveLength(1);
  });

  it("reorders items and keeps the link on edit", async () => {
    const [a, b, c] = await Promise.all(
      [1, 2, 3].map(() => createTemplate(admin, base({ authKind: "none" }))),
    );
    const { recipe, shareUrl } = await createRecipe(admin, {
      name: `Order ${++n}`,
      items: [{ templateId: a.id }, { templateId: b.id }, { templateId: c.id }],
    });
    await updateRecipe(admin, recipe.id, {
      name: recipe.name,
      items: [{ templateId: c.id }, { templateId: a.id, required: false }],
    });
    const preview = await previewRecipe(shareUrl.split("/r/")[1]);
    expect(preview.items.map((i) => [i.name, i.required])).toEqual([
      [c.name, true],
      [a.name, false],
    ]);
  });
});

describe("admin boundary", () => {
  it("refuses non-admins at every data function as not found, before any request", async () => {
    const t = await createTemplate(admin, base());
    const { recipe } = await createRecipe(admin, { name: `Guarded ${++n}`, items: [{ templateId: t.id }] });
    // A hand-built object claiming admin is not believed: the role is re-read from the database.
    const forged = { ...user, role: "admin" as const };
    for (const who of [user, forged, { id: "no-such-user" }]) {
      const calls: Promise<unknown>[] = [
        listTemplates(who),
        getTemplate(who, t.id),
        createTemplate(who, base()),
        updateTemplate(who, t.id, base({ name: t.name })),
        deleteTemplate(who, t.id),
        templateChoices(who),
        testTemplate(who, { serverUrl: mcp.url, authKind: "none" }),
        listRecipes(who),
        getRecipe(who, recipe.id),
        createRecipe(who, { name: "x", items: [{ templateId: t.id }] }),
        updateRecipe(who, recipe.id, { name: "x", items: [{ templateId: t.id }] }),
        deleteRecipe(who, recipe.id),
        rotateShareLink(who, recipe.id),
        setShareEnabled(who, recipe.id, false),
      ];
      for (const call of calls) await expectAppError(call, "not_found");
    }
    expect(mcp.requests).toHaveLength(0);
    expect((await getTemplate(admin, t.id)).name).toBe(t.name);
    expect((await getRecipe(admin, recipe.id)).shareEnabled).toBe(true);
  });

  it("refuses non-admins at every server action", async () => {
    const actions = await import("@/app/(admin)/kitchen/actions");
    const t = await createTemplate(admin, base());
    session.user = user;
    const inputs: Record<string, unknown> = {
      createTemplateAction: base(),
      updateTemplateAction: { ...base(), id: t.id },
      deleteTemplateAction: { id: t.id },
      testTemplateAction: { serverUrl: mcp.url, authKind: "none" },
      createRecipeAction: { name: "x", items: [{ templateId: t.id }] },
      updateRecipeAction: { id: "x", name: "x", items: [{ templateId: t.id }] },
      deleteRecipeAction: { id: "x" },
      rotateLinkAction: { id: "x" },
      setShareEnabledAction: { id: "x", enabled: false },
    };
    const exported = Object.entries(actions).filter(([, v]) => typeof v === "function");
    expect(exported.map(([k]) => k).sort()).toEqual(Object.keys(inputs).sort());
    for (const [name, action] of exported) {
      const res = await (action as (i: unknown) => Promise<{ ok: boolean; error?: string }>)(inputs[name]);
      expect(res, name).toEqual({ ok: false, error: "Not found" });
    }
    session.user = null;
    for (const [name, action] of exported) {
      const res = await (action as (i: unknown) => Promise<{ ok: boolean; error?: string }>)(inputs[name]);
      expect(res.ok, name).toBe(false);
    }
    session.user = admin;
    const ok = await actions.createTemplateAction(base());
    expect(ok.ok).toBe(true);
    session.user = null;
    expect(mcp.requests).toHaveLength(0);
  });

  it("Test checks an unsaved template's server and stores nothing", async () => {
    const db = await getDb();
    const before = await Promise.all([db.template.count(), db.integration.count(), db.auditEvent.count()]);
    const res = await testTemplate(admin, { serverUrl: mcp.url, authKind: "none" });
    expect(res.checks).toContainEqual(expect.objectContaining({ id: "auth", status: "ok" }));
    expect(res.doctor.find((s) => s.id === "tools")?.status).toBe("ok");
    expect(mcp.requests.length).toBeGreaterThan(0);
    const bad = await testTemplate(admin, { serverUrl: "http://127.0.0.1:1/mcp", authKind: "oauth" });
    expect(bad.checks[0]).toMatchObject({ id: "server", status: "fail" });
    expect(await Promise.all([db.template.count(), db.integration.count(), db.auditEvent.count()])).toEqual(
      before,
    );
  });
});
