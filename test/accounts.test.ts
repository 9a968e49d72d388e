import { describe, expect, it } from "vitest";
import { authenticateApiToken, createApiToken, listApiTokens, revokeApiToken } from "@/lib/data/api-tokens";
import { checkCredentials, setUserRole, signUp } from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { setEnvForProcess } from "@/lib/env";

const password = "correct horse battery staple";

describe("accounts", () => {
  it("makes the first account admin, later ones users, and ADMIN_EMAILS admins", async () => {
    const first = await signUp({ email: "First@Example.com", password, name: "" });
    expect(first).toMatchObject({ email: "first@example.com", role: "admin" });
    const second = await signUp({ email: "second@example.com", password, name: "" });
    expect(second.role).toBe("user");
    setEnvForProcess({ ADMIN_EMAILS: "boss@example.com" });
    try {
      expect((await signUp({ email: "boss@example.com", password, name: "" })).role).toBe("admin");
    } finally {
      setEnvForProcess({ ADMIN_EMAILS: undefined });
    }
  });

  it("rejects duplicate emails, weak passwords and wrong passwords with clear messages", async () => {
    await signUp({ email: "dup@example.com", password, name: "" });
    await expect(signUp({ email: "DUP@example.com", password, name: "" })).rejects.toThrow(/already exists/);
    await expect(signUp({ email: "weak@example.com", password: "short", name: "" })).rejects.toThrow(
      /at least 10/,
    );
    await expect(signUp({ email: "not-an-email", password, name: "" })).rejects.toThrow(/valid email/);
    expect(await checkCredentials("dup@example.com", "wrong password!")).toBeNull();
    expect(await checkCredentials("nobody@example.com", password)).toBeNull();
    expect((await checkCredentials(" Dup@Example.com ", password))?.email).toBe("dup@example.com");
    const db = await getDb();
    expect(await db.user.count({ where: { email: "weak@example.com" } })).toBe(0);
  });

  it("API tokens: stored hashed, authenticate their owner, expire and revoke; other users get not found", async () => {
    const alice = await signUp({ email: "alice@example.com", password, name: "" });
    const bob = await signUp({ email: "bob@example.com", password, name: "" });
    const t = await createApiToken(alice, { name: "cli", expiresInDays: undefined });
    const db = await getDb();
    const row = await db.apiToken.findFirstOrThrow({ where: { id: t.id } });
    expect(row.tokenHash).not.toContain(t.token.slice(5));
    expect(JSON.stringify(row)).not.toContain(t.token);
    expect((await authenticateApiToken(t.token)).id).toBe(alice.id);
    expect((await listApiTokens(alice)).map((x) => x.name)).toEqual(["cli"]);
    expect(await listApiTokens(bob)).toEqual([]);

    await expect(revokeApiToken(bob, t.id)).rejects.toMatchObject({ status: 404 });
    expect((await authenticateApiToken(t.token)).id).toBe(alice.id);

    await revokeApiToken(alice, t.id);
    await expect(authenticateApiToken(t.token)).rejects.toMatchObject({ code: "token_revoked", status: 401 });

    const e = await createApiToken(alice, { name: "old", expiresInDays: 1 });
    await db.apiToken.update({ where: { id: e.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await expect(authenticateApiToken(e.token)).rejects.toMatchObject({ code: "token_expired" });
    await expect(authenticateApiToken("poke_unknown")).rejects.toMatchObject({ code: "invalid_token" });
  });

  it("admins cannot demote themselves; unknown users are not found", async () => {
    const admin = await signUp({ email: "root@example.com", password, name: "" });
    await expect(setUserRole(admin, admin.id, "user")).rejects.toThrow(/own admin role/);
    await expect(setUserRole(admin, "nope", "admin")).rejects.toMatchObject({ status: 404 });
  });
});

describe("external sign-in providers", () => {
  it("turn on only when their configuration is complete", async () => {
    const { externalProviders } = await import("@/lib/auth/options");
    expect(externalProviders()).toEqual([]);
    setEnvForProcess({
      OIDC_ISSUER: "https://id.example.com",
      OIDC_CLIENT_ID: "poke",
      OIDC_CLIENT_SECRET: "s",
      OIDC_NAME: "Acme SSO",
      GITHUB_CLIENT_ID: "gh",
    });
    try {
      expect(externalProviders()).toEqual([{ id: "oidc", name: "Acme SSO" }]);
      setEnvForProcess({ GITHUB_CLIENT_SECRET: "ghs" });
      expect(externalProviders().map((p) => p.id)).toEqual(["oidc", "github"]);
    } finally {
      setEnvForProcess({
        OIDC_ISSUER: undefined,
        OIDC_CLIENT_ID: undefined,
        OIDC_CLIENT_SECRET: undefined,
        OIDC_NAME: undefined,
        GITHUB_CLIENT_ID: undefined,
        GITHUB_CLIENT_SECRET: undefined,
      });
    }
  });

  it("link an external identity to a verified email, refuse unverified takeovers", async () => {
    const { userForExternalAccount } = await import("@/lib/data/users");
    const owner = await signUp({ email: "linked@example.com", password, name: "" });
    await expect(
      userForExternalAccount({
        provider: "oidc",
        providerAccountId: "x1",
        email: "linked@example.com",
        emailVerified: false,
      }),
    ).rejects.toMatchObject({ code: "unverified_email" });
    const linked = await userForExternalAccount({
      provider: "oidc",
      providerAccountId: "x1",
      email: "Linked@example.com",
      emailVerified: true,
    });
    expect(linked.id).toBe(owner.id);
    const fresh = await userForExternalAccount({
      provider: "github",
      providerAccountId: "42",
      email: "new@example.com",
      emailVerified: true,
      name: "New",
    });
    expect(fresh).toMatchObject({ email: "new@example.com", role: "user" });
    const again = await userForExternalAccount({
      provider: "github",
      providerAccountId: "42",
      email: "changed@example.com",
      emailVerified: true,
    });
    expect(again.id).toBe(fresh.id);
  });
});
