// Many syncs at once: concurrent syncs share their database reads and metadata writes, and stay owner-scoped
// (a foreign id is "not found" even when it is read in the same batch as its owner's sync).
import { afterAll, beforeAll, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { expectAppError } from "./app-error";

const servers: McpFixture[] = [];
let alice: string;
let bob: string;
const owned: { userId: string; id: string; server: McpFixture }[] = [];

beforeAll(async () => {
  const db = await getDb();
  const stamp = Date.now();
  alice = (await db.user.create({ data: { email: `fan-a-${stamp}@example.com` } })).id;
  bob = (await db.user.create({ data: { email: `fan-b-${stamp}@example.com` } })).id;
  for (let i = 0; i < 6; i++) {
    const server = await startMcpServer({ name: `fanout-${i}`, mode: i % 2 ? "sessionful" : "modern" });
    servers.push(server);
    const userId = i < 4 ? alice : bob;
    const row = await db.integration.create({ data: { userId, name: `fan-${stamp}-${i}`, url: server.url } });
    owned.push({ userId, id: row.id, server });
  }
});

afterAll(async () => {
  await closeAll();
  await Promise.all(servers.map((s) => s.close()));
});

async function rows() {
  const db = await getDb();
  const found = await db.integration.findMany({
    where: { id: { in: owned.map((o) => o.id) } },
    include: { tools: { select: { name: true } } },
  });
  return new Map(found.map((r) => [r.id, r]));
}

it("syncs many integrations of two users at once; each row gets its own server's snapshot", async () => {
  const [aliceFirst, bobFirst] = [owned[0], owned[4]];
  const syncs = owned.map((o) => syncIntegration(o.userId, o.id));
  // Foreign ids, read in the same batch as their owners' syncs.
  const foreign = [
    expectAppError(syncIntegration(bob, aliceFirst.id), "not_found"),
    expectAppError(syncIntegration(alice, bobFirst.id), "not_found"),
  ];
  const results = await Promise.allSettled(syncs);
  await Promise.all(foreign);
  const added = results.map((r) => {
    if (r.status !== "fulfilled") throw r.reason;
    return r.value.added;
  });
  const after = await rows();
  owned.forEach((o, i) => {
    const row = after.get(o.id)!;
    expect(row.userId).toBe(o.userId);
    expect(row.status).toBe("connected");
    expect(row.serverName).toBe(`fanout-${i}`);
    expect(row.syncGeneration).toBe(1);
    expect(row.tools.map((t) => t.name).sort()).toEqual(added[i]);
    expect(added[i]).toContain("echo");
  });
});

it("re-syncs them all at once: unchanged catalogs commit their metadata alone, generation by generation", async () => {
  const before = await rows();
  owned[2].server.setDescription("echo", "changed while the others stay the same");
  const diffs = await Promise.all(owned.map((o) => syncIntegration(o.userId, o.id)));
  diffs.forEach((d, i) => {
    expect(d.added).toEqual([]);
    expect(d.removed).toEqual([]);
    expect(d.changed).toEqual(i === 2 ? ["echo"] : []);
  });
  const after = await rows();
  for (const o of owned) {
    const [b, a] = [before.get(o.id)!, after.get(o.id)!];
    expect(a.syncGeneration).toBe(b.syncGeneration + 1);
    expect(a.lastSyncedAt!.getTime()).toBeGreaterThan(b.lastSyncedAt!.getTime());
    // Stored as UTC, as Prisma stores DateTime: the time read back is now, whatever the session's time zone
    // (a zone's offset is a multiple of 15 minutes; the bound leaves a slow machine minutes to get here).
    expect(Math.abs(a.lastSyncedAt!.getTime() - Date.now())).toBeLessThan(10 * 60_000);
    expect(a.capabilities).toEqual(b.capabilities);
    expect(a.lastError).toBeNull();
  }
});
