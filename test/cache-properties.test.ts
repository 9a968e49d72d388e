// Generated tests of the caches built from integration rows (lib/data/changes.ts): random sequences of the
// data layer's writes — a tool toggled, an integration renamed, its status changed, a tool added or removed
// upstream and re-synced, an integration deleted — interleaved with calls and agent catalog reads that fill
// the caches. After every write, the agent catalog and every cached call plan must equal a small model of
// what is stored: a cache never answers from before a committed change. FC_SEED / FC_PATH replay a failure.
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { loadCatalog } from "@/lib/agent/catalog";
import { setIntegrationState } from "@/lib/data/grants";
import { deleteIntegration, setToolEnabled, updateIntegration } from "@/lib/data/integrations";
import { getDb } from "@/lib/db";
import { isAppError } from "@/lib/errors";
import { planKey, plans } from "@/lib/mcp/integration";
import { callTool, closeAll, dropSession } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";

const INTEGRATIONS = 2;
const NAMES = ["Alpha", "Beta", "Gamma"];
const STATUSES = ["connected", "error", "needs_reauth", "offline"];
const BASIC = ["echo", "add"];
const EXTRA = ["extra_1", "extra_2"];

type Op =
  | { kind: "toggle"; i: number; tool: string; enabled: boolean }
  | { kind: "rename"; i: number; name: string }
  | { kind: "status"; i: number; status: string }
  | { kind: "add" | "remove"; i: number; tool: string }
  | { kind: "delete"; i: number };

const index = fc.nat({ max: INTEGRATIONS - 1 });
const tool = fc.constantFrom(...BASIC, ...EXTRA);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("toggle" as const), i: index, tool, enabled: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("rename" as const), i: index, name: fc.constantFrom(...NAMES) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("status" as const),
      i: index,
      status: fc.constantFrom(...STATUSES),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom("add" as const, "remove" as const), i: index, tool }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), i: index }) },
);

/** What is stored for one integration; undefined once deleted. */
type Stored = { id: string; name: string; status: string; tools: Map<string, boolean>; server: McpFixture };

const servers: McpFixture[] = [];
afterAll(closeAll);

async function setUp(): Promise<{ userId: string; model: (Stored | undefined)[] }> {
  const db = await getDb();
  const userId = (
    await db.user.create({ data: { email: `cache-props-${Date.now()}-${Math.random()}@example.com` } })
  ).id;
  const model: (Stored | undefined)[] = [];
  for (let i = 0; i < INTEGRATIONS; i++) {
    const server = await startMcpServer();
    servers.push(server);
    const name = `Integration ${i}`;
    const { id } = await db.integration.create({ data: { userId, name, url: server.url, authKind: "none" } });
    await syncIntegration(userId, id);
    const tools = new Map(
      (await db.tool.findMany({ where: { integrationId: id } })).map((t) => [t.name, true]),
    );
    model.push({ id, name, status: "connected", tools, server });
  }
  return { userId, model };
}

/** Fills the caches: the agent catalog and a call plan for each tool name of each integration. */
async function warm(userId: string, ids: string[]) {
  await loadCatalog(userId);
  for (const id of ids) {
    for (const name of [...BASIC, ...EXTRA]) {
      const args = name === "echo" ? { text: "warm" } : name === "add" ? { a: 1, b: 2 } : {};
      await callTool({ userId, integrationId: id }, name, args).catch(() => undefined);
    }
  }
}

async function apply(userId: string, model: (Stored | undefined)[], o: Op): Promise<void> {
  const s = model[o.i];
  if (!s) return;
  const user = { id: userId };
  switch (o.kind) {
    case "toggle": {
      const done = await setToolEnabled(user, s.id, o.tool, o.enabled).then(
        () => true,
        (err: unknown) => {
          if (isAppError(err) && err.code === "not_found") return false;
          throw err;
        },
      );
      expect(done, `toggle ${o.tool}`).toBe(s.tools.has(o.tool));
      if (done) s.tools.set(o.tool, o.enabled);
      return;
    }
    case "rename": {
      const taken = model.some((m) => m && m !== s && m.name === o.name);
      const done = await updateIntegration(user, s.id, { name: o.name }).then(
        () => true,
        (err: unknown) => {
          if (isAppError(err) && err.code === "name_taken") return false;
          throw err;
        },
      );
      expect(done, `rename to ${o.name}`).toBe(!taken);
      if (done) s.name = o.name;
      return;
    }
    case "status":
      await setIntegrationState({ id: s.id, userId }, { status: o.status });
      s.status = o.status;
      return;
    case "add":
    case "remove": {
      if (s.tools.has(o.tool) === (o.kind === "add")) return; // the server has it already, or never had it
      // No pooled session may hear the server's list_changed and re-sync on its own meanwhile.
      await dropSession(userId, s.id);
      if (o.kind === "add") s.server.addTool(o.tool);
      else s.server.removeTool(o.tool);
      await syncIntegration(userId, s.id);
      s.status = "connected";
      const listed = (await getDb()).tool.findMany({
        where: { integrationId: s.id },
        select: { name: true },
      });
      const names = new Set((await listed).map((t) => t.name));
      for (const name of names) if (!s.tools.has(name)) s.tools.set(name, true);
      for (const name of [...s.tools.keys()]) if (!names.has(name)) s.tools.delete(name);
      return;
    }
    case "delete":
      await deleteIntegration(user, s.id);
      model[o.i] = undefined;
  }
}

async function expectCoherent(userId: string, model: (Stored | undefined)[], ids: string[], after: string) {
  const catalog = await loadCatalog(userId);
  const listed = catalog.tools.map((t) => `${t.integrationName} | ${t.toolName} | ${t.status}`).sort();
  const expected = model
    .flatMap((s) =>
      s
        ? [...s.tools].filter(([, enabled]) => enabled).map(([name]) => `${s.name} | ${name} | ${s.status}`)
        : [],
    )
    .sort();
  expect(listed, `the agent catalog after ${after}`).toEqual(expected);
  for (const [i, id] of ids.entries()) {
    const s = model[i];
    for (const name of [...BASIC, ...EXTRA]) {
      const cached = plans.get(planKey(userId, id, name));
      if (!cached) continue;
      const plan = await cached.catch(() => undefined);
      const what = `the call plan of ${name} on integration ${i} after ${after}`;
      if (!s) {
        expect(plan, what).toBeUndefined();
        continue;
      }
      if (!plan) continue;
      expect(
        { name: plan.integ.name, status: plan.integ.status, enabled: plan.tool?.enabled ?? null },
        what,
      ).toEqual({
        name: s.name,
        status: s.status,
        enabled: s.tools.get(name) ?? null,
      });
    }
  }
}

describe("caches built from integration rows, generated", () => {
  it("after every write, the agent catalog and the cached call plans equal what is stored", async () => {
    const example: Op[] = [
      { kind: "toggle", i: 0, tool: "echo", enabled: false },
      { kind: "status", i: 1, status: "needs_reauth" },
      { kind: "rename", i: 0, name: "Alpha" },
      { kind: "remove", i: 1, tool: "echo" },
      { kind: "delete", i: 0 },
    ];
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        const { userId, model } = await setUp();
        const ids = model.map((s) => s!.id);
        try {
          for (const [n, o] of ops.entries()) {
            await warm(userId, ids);
            await apply(userId, model, o);
            await expectCoherent(userId, model, ids, `step ${n + 1} (${JSON.stringify(o)})`);
          }
        } finally {
          await closeAll();
          await Promise.all(servers.splice(0).map((s) => s.close()));
        }
      }),
      {
        numRuns: 12,
        interruptAfterTimeLimit: 90_000,
        examples: [[example]],
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
        ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
      },
    );
  }, 240_000);
});
