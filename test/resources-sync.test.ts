// Resources, resource templates and prompts: synced and diffed like tools (docs/design.md §4), read and got
// through the pooled session, owner-scoped, against a real fixture server and a real database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { listTools } from "@/lib/data/integrations";
import {
  getIntegrationPrompt,
  listPrompts,
  listResources,
  listResourceTemplates,
  readIntegrationResource,
} from "@/lib/data/resources";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { startListsServer, type ListsFixture } from "./fixtures/lists-server";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { startTaskServer } from "./fixtures/task-server";
import { expectAppError } from "./app-error";

let server: ListsFixture;
let plain: McpFixture;
let n = 0;

async function makeUser(): Promise<string> {
  const db = await getDb();
  return (await db.user.create({ data: { email: `res${++n}-${Date.now()}@example.com` } })).id;
}
async function makeIntegration(userId: string, url: string): Promise<string> {
  const db = await getDb();
  return (await db.integration.create({ data: { userId, name: `res-${++n}`, url, authKind: "none" } })).id;
}

const resource = (i: number, extra: object = {}) => ({ uri: `file:///r${i}.txt`, name: `r${i}`, ...extra });
const template = (i: number) => ({ uriTemplate: `file:///t${i}/{id}`, name: `t${i}` });
const prompt = (i: number, extra: object = {}) => ({
  name: `p${i}`,
  arguments: [{ name: "topic", required: true }],
  ...extra,
});

beforeAll(async () => {
  server = await startListsServer();
  plain = await startMcpServer();
});
afterAll(async () => {
  await closeAll();
  await server.close();
  await plain.close();
});

describe("resources, templates and prompts sync", () => {
  it("stores every page, returns the diff next to tools', and a removal-only re-sync deletes", async () => {
    const userId = await makeUser();
    const id = await makeIntegration(userId, server.url);
    server.set({
      resources: [1, 2, 3, 4, 5].map((i) => resource(i, { mimeType: "text/plain", size: 12 })),
      resourceTemplates: [template(1)],
      prompts: [prompt(1), prompt(2), prompt(3)],
    });
    const first = await syncIntegration(userId, id);
    expect(first.toolCount).toBe(1);
    expect(first.resources).toMatchObject({ count: 5, removed: [], changed: [], unchanged: 0 });
    expect(first.resources?.added).toHaveLength(5);
    expect(first.resourceTemplates).toMatchObject({ added: ["file:///t1/{id}"], count: 1 });
    expect(first.prompts).toMatchObject({ added: ["p1", "p2", "p3"], count: 3 });
    const user = { id: userId };
    expect((await listResources(user, id)).map((r) => r.uri)).toHaveLength(5);
    expect(await listResources(user, id)).toContainEqual(
      expect.objectContaining({ uri: "file:///r1.txt", name: "r1", mimeType: "text/plain", size: 12 }),
    );
    expect(await listPrompts(user, id)).toContainEqual(
      expect.objectContaining({ name: "p1", arguments: [{ name: "topic", required: true }] }),
    );

    // Removal only: nothing added or changed anywhere.
    server.set({ resources: [1, 2, 3].map((i) => resource(i, { mimeType: "text/plain", size: 12 })) });
    server.set({ resourceTemplates: [], prompts: [prompt(2)] });
    const second = await syncIntegration(userId, id);
    expect(second).toMatchObject({ added: [], removed: [], changed: [] });
    expect(second.resources).toEqual({
      added: [],
      removed: ["file:///r4.txt", "file:///r5.txt"],
      changed: [],
      unchanged: 3,
      count: 3,
    });
    expect(second.resourceTemplates).toMatchObject({ removed: ["file:///t1/{id}"], count: 0 });
    expect(second.prompts).toMatchObject({ removed: ["p1", "p3"], unchanged: 1, count: 1 });
    expect((await listResources(user, id)).map((r) => r.uri)).toEqual([
      "file:///r1.txt",
      "file:///r2.txt",
      "file:///r3.txt",
    ]);
    expect(await listResourceTemplates(user, id)).toEqual([]);
    expect((await listPrompts(user, id)).map((p) => p.name)).toEqual(["p2"]);

    // A change alone.
    server.set({ prompts: [prompt(2, { description: "now described" })] });
    const third = await syncIntegration(userId, id);
    expect(third.prompts).toMatchObject({ changed: ["p2"], added: [], removed: [] });
    expect((await listPrompts(user, id))[0]).toMatchObject({ description: "now described" });
  });

  it("a failing list is noted and kept as stored; the tools still sync", async () => {
    const userId = await makeUser();
    const id = await makeIntegration(userId, server.url);
    server.set({ resources: [resource(1)], prompts: [prompt(1)] });
    await syncIntegration(userId, id);
    server.fail("prompts", true);
    try {
      const diff = await syncIntegration(userId, id);
      expect(diff.toolCount).toBe(1);
      expect(diff.prompts?.failed).toMatch(/unavailable/);
      expect((await listPrompts({ id: userId }, id)).map((p) => p.name)).toEqual(["p1"]);
      const db = await getDb();
      const row = await db.integration.findUniqueOrThrow({ where: { id } });
      expect(row.status).toBe("connected");
      expect(row.syncNotice).toMatch(/Could not list prompts/);
    } finally {
      server.fail("prompts", false);
    }
  });

  it("a server without resources or prompts answers the diff it always did", async () => {
    const userId = await makeUser();
    const id = await makeIntegration(userId, plain.url);
    const diff = await syncIntegration(userId, id);
    expect(Object.keys(diff).sort()).toEqual(["added", "changed", "removed", "toolCount", "unchanged"]);
  });

  it("entries the database can't store are left out and named", async () => {
    const userId = await makeUser();
    const id = await makeIntegration(userId, server.url);
    const longest = `file:///${"名".repeat(680)}`; // 2048 bytes: stored and indexed on both databases
    server.set({
      resources: [
        resource(1),
        { uri: "file:///bad\0nul", name: "bad" },
        { uri: `file:///${"名".repeat(1000)}`, name: "too long" },
        { uri: longest, name: "longest" },
      ],
      prompts: [],
    });
    const diff = await syncIntegration(userId, id);
    expect(diff.resources?.added).toEqual(["file:///r1.txt", longest].sort());
    const db = await getDb();
    const row = await db.integration.findUniqueOrThrow({ where: { id } });
    expect(row.syncNotice).toMatch(/Left out 2 resources .*NUL.*longer than 2048 bytes/);
  });

  it("reads a resource and gets a prompt through the engine; a foreign id is not found", async () => {
    const userId = await makeUser();
    const id = await makeIntegration(userId, server.url);
    server.set({ resources: [resource(1)], prompts: [prompt(1)] });
    await syncIntegration(userId, id);
    const read = await readIntegrationResource({ id: userId }, id, "file:///t1/42");
    expect(read.contents[0]).toMatchObject({ uri: "file:///t1/42", text: "contents of file:///t1/42" });
    const got = await getIntegrationPrompt({ id: userId }, id, "p1", { topic: "cats" });
    expect(got.messages[0]?.content).toMatchObject({ type: "text", text: 'p1 with {"topic":"cats"}' });

    const other = { id: await makeUser() };
    const before = server.requests.length;
    await expectAppError(readIntegrationResource(other, id, "file:///r1.txt"), "not_found");
    await expectAppError(getIntegrationPrompt(other, id, "p1", {}), "not_found");
    await expectAppError(listResources(other, id), "not_found");
    await expectAppError(listPrompts(other, id), "not_found");
    await expectAppError(listResourceTemplates(other, id), "not_found");
    expect(server.requests.length).toBe(before);
  });

  it("tools keep their execution; listTools says their task support", async () => {
    const tasks = await startTaskServer();
    try {
      const userId = await makeUser();
      const id = await makeIntegration(userId, tasks.url);
      await syncIntegration(userId, id);
      const support = Object.fromEntries(
        (await listTools({ id: userId }, id)).map((t) => [t.name, t.taskSupport]),
      );
      expect(support).toMatchObject({ research: "required", summarize: "optional" });
      const db = await getDb();
      const row = await db.tool.findFirstOrThrow({ where: { integrationId: id, name: "summarize" } });
      expect(JSON.parse(row.execution ?? "null")).toEqual({ taskSupport: "optional" });
    } finally {
      await tasks.close();
    }
  });
});
