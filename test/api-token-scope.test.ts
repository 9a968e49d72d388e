import { describe, expect, it } from "vitest";
import {
  authenticateApiToken,
  createApiToken,
  listApiTokenNames,
  listApiTokens,
  revokeApiToken,
} from "@/lib/data/api-tokens";
import { createToolset, deleteToolset, readTokenScope } from "@/lib/data/toolsets";
import { signUp } from "@/lib/data/users";
import { getDb } from "@/lib/db";

const password = "correct horse battery staple";
const user = (tag: string) =>
  signUp({ email: `${tag}-${Math.random().toString(36).slice(2)}@example.com`, password, name: "" });

describe("API tokens created with a scope", () => {
  it("are scoped from the start, and Settings lists each token's toolsets and search mode", async () => {
    const alice = await user("alice");
    const research = await createToolset(alice, { name: "research" });
    const ops = await createToolset(alice, { name: "ops" });
    const scoped = await createApiToken(
      alice,
      { name: "agent", expiresInDays: undefined },
      {
        toolsetIds: [research.id, ops.id, research.id],
      },
    );
    const search = await createApiToken(
      alice,
      { name: "searcher", expiresInDays: undefined },
      {
        searchMode: true,
      },
    );
    const plain = await createApiToken(alice, { name: "cli", expiresInDays: undefined });

    expect(await readTokenScope(alice.id, scoped.id)).toEqual({
      searchMode: false,
      toolsetIds: expect.arrayContaining([research.id, ops.id]),
    });
    expect((await readTokenScope(alice.id, scoped.id)).toolsetIds).toHaveLength(2);
    expect(await readTokenScope(alice.id, search.id)).toEqual({ searchMode: true, toolsetIds: [] });

    const listed = new Map((await listApiTokens(alice)).map((t) => [t.name, t]));
    expect(listed.get("agent")?.toolsets.map((t) => t.name)).toEqual(["ops", "research"]);
    expect(listed.get("searcher")).toMatchObject({ searchMode: true, toolsets: [] });
    expect(listed.get("cli")).toMatchObject({ searchMode: false, toolsets: [] });
    expect(plain.token).toMatch(/^poke_/);
  });

  it("refuses another person's toolset as not found and creates no token", async () => {
    const alice = await user("alice");
    const bob = await user("bob");
    const bobs = await createToolset(bob, { name: "bobs" });
    const mine = await createToolset(alice, { name: "mine" });
    await expect(
      createApiToken(alice, { name: "sneaky", expiresInDays: undefined }, { toolsetIds: [mine.id, bobs.id] }),
    ).rejects.toMatchObject({ status: 404, message: "Toolset not found" });
    const db = await getDb();
    expect(await db.apiToken.count({ where: { userId: alice.id } })).toBe(0);
    expect(await listApiTokens(bob)).toEqual([]);
  });

  it("token names for filters include revoked tokens, only the owner's", async () => {
    const alice = await user("alice");
    const bob = await user("bob");
    const old = await createApiToken(alice, { name: "old", expiresInDays: undefined });
    await createApiToken(alice, { name: "new", expiresInDays: undefined });
    await createApiToken(bob, { name: "bob's", expiresInDays: undefined });
    await revokeApiToken(alice, old.id);
    const names = await listApiTokenNames(alice);
    expect(names.map((t) => [t.name, t.revokedAt !== null])).toEqual([
      ["new", false],
      ["old", true],
    ]);
    expect(await listApiTokens(alice)).toHaveLength(1);
  });

  it("deleting a toolset revokes the tokens scoped to it alone, never widening them to every tool", async () => {
    const alice = await user("alice");
    const a = await createToolset(alice, { name: "a" });
    const b = await createToolset(alice, { name: "b" });
    const onlyA = await createApiToken(
      alice,
      { name: "only a", expiresInDays: undefined },
      { toolsetIds: [a.id] },
    );
    const both = await createApiToken(
      alice,
      { name: "a and b", expiresInDays: undefined },
      {
        toolsetIds: [a.id, b.id],
      },
    );
    // Verified and scoped once, so both are cached as a running endpoint would have them.
    for (const t of [onlyA, both]) {
      await authenticateApiToken(t.token);
      await readTokenScope(alice.id, t.id);
    }

    await deleteToolset(alice, a.id);

    await expect(authenticateApiToken(onlyA.token)).rejects.toMatchObject({ code: "token_revoked" });
    expect((await authenticateApiToken(both.token)).tokenId).toBe(both.id);
    expect(await readTokenScope(alice.id, both.id)).toEqual({ searchMode: false, toolsetIds: [b.id] });
    expect((await listApiTokens(alice)).map((t) => t.name)).toEqual(["a and b"]);
  });
});
