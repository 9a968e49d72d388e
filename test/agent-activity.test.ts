// Activity history and per-integration health from real calls, owner-scoped.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getIntegrationHealth, listActivity, listIntegrationHealth } from "@/lib/agent/activity";
import { callIntegrationTool, updateIntegration } from "@/lib/data/integrations";
import { getDb } from "@/lib/db";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, makeUserWithToken } from "./agent-helpers";

let srv: McpFixture;
let userId: string;
let mainId: string;
let sideId: string;

const call = (id: string, tool: string, args: Record<string, unknown> = {}, timeoutMs?: number) =>
  callIntegrationTool(
    { id: userId },
    id,
    tool,
    { arguments: args, ...(timeoutMs ? { timeoutMs } : {}) },
    "api",
  ).catch(() => undefined);

beforeAll(async () => {
  srv = await startMcpServer();
  const { user } = await makeUserWithToken("activity");
  userId = user.id;
  mainId = await addIntegration(userId, "Main", srv.url);
  sideId = await addIntegration(userId, "Side", srv.url);
  for (let i = 0; i < 3; i++) await call(mainId, "echo", { text: `n${i}` });
  await call(mainId, "fail");
  await call(mainId, "hang", {}, 100);
  await call(sideId, "echo", { text: "side" });
});

afterAll(async () => {
  await closeAll();
  await srv.close();
});

describe("activity", () => {
  it("lists calls newest first with filters by integration, status and source", async () => {
    const all = await listActivity({ id: userId });
    expect(all.calls.map((c) => c.tool)).toEqual(["echo", "hang", "fail", "echo", "echo", "echo"]);
    expect(all.calls[0]).toMatchObject({ integrationName: "Side", source: "api", status: "ok" });
    const timeouts = await listActivity({ id: userId }, { status: "timeout" });
    expect(timeouts.calls).toHaveLength(1);
    expect(timeouts.calls[0].error).toMatch(/did not finish/);
    expect((await listActivity({ id: userId }, { integrationId: sideId })).calls).toHaveLength(1);
    expect((await listActivity({ id: userId }, { integrationId: mainId, status: "ok" })).calls).toHaveLength(
      3,
    );
    expect((await listActivity({ id: userId }, { source: "agent" })).calls).toHaveLength(0);
  });

  it("pages with a cursor without gaps or repeats", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listActivity({ id: userId }, { limit: 4, cursor });
      seen.push(...page.calls.map((c) => c.id));
      cursor = page.nextCursor;
    } while (cursor);
    const all = await listActivity({ id: userId });
    expect(seen).toEqual(all.calls.map((c) => c.id));
  });

  it("computes health: success rate, percentiles, last error, breaker state", async () => {
    const h = await getIntegrationHealth({ id: userId }, mainId);
    expect(h).toMatchObject({ calls: 5, ok: 3, toolErrors: 1, failures: 1, rejected: 0 });
    expect(h.successRate).toBeCloseTo(3 / 5);
    expect(h.p50Ms).toBeGreaterThanOrEqual(0);
    expect(h.p95Ms).toBeGreaterThanOrEqual(h.p50Ms!);
    expect(h.p95Ms).toBeGreaterThanOrEqual(90); // the timed-out call
    expect(h.lastError?.message).toMatch(/did not finish/);
    expect(h.breaker.state).toBe("closed");
    const all = await listIntegrationHealth({ id: userId });
    expect(all.map((x) => [x.name, x.calls])).toEqual([
      ["Main", 5],
      ["Side", 1],
    ]);
  });

  it("stores arguments and results only when the integration opted in", async () => {
    await call(sideId, "echo", { text: "not kept" });
    await updateIntegration({ id: userId }, sideId, { storePayloads: true });
    await call(sideId, "echo", { text: "kept" });
    const [kept, notKept] = (await listActivity({ id: userId }, { integrationId: sideId, limit: 2 })).calls;
    expect(kept.arguments).toEqual({ text: "kept" });
    expect(JSON.stringify(kept.result)).toContain("kept");
    expect(notKept.arguments).toBeNull();
    expect(notKept.result).toBeNull();
  });

  it("lists calls of one batch newest first, each at the time it ended", async () => {
    const t0 = Date.now();
    for (let i = 1; i <= 6; i++) await call(sideId, "echo", { text: `order ${i}` });
    const t1 = Date.now();
    const { calls } = await listActivity({ id: userId }, { integrationId: sideId, limit: 6 });
    expect(calls.map((c) => (c.arguments as { text: string }).text)).toEqual(
      [6, 5, 4, 3, 2, 1].map((i) => `order ${i}`),
    );
    for (const c of calls) {
      expect(new Date(c.at).getTime()).toBeGreaterThanOrEqual(t0);
      expect(new Date(c.at).getTime()).toBeLessThanOrEqual(t1);
    }
  });

  it("a call whose integration is deleted before its history is written costs the other calls nothing", async () => {
    const mainCalls = async () =>
      (await listActivity({ id: userId }, { integrationId: mainId, limit: 100 })).calls.length;
    const before = await mainCalls();
    const goneId = await addIntegration(userId, "Gone", srv.url);
    await call(goneId, "echo", { text: "gone" });
    await call(mainId, "echo", { text: "batched with it" });
    // Deleted (as by another process) while both rows still wait in the same batch.
    const db = await getDb();
    await db.integration.delete({ where: { id: goneId } });
    expect(await mainCalls()).toBe(before + 1);
  });

  it("another user sees none of it", async () => {
    const { user: other } = await makeUserWithToken("activity-other");
    expect((await listActivity(other)).calls).toEqual([]);
    expect((await listActivity(other, { integrationId: mainId })).calls).toEqual([]);
    expect(await listIntegrationHealth(other)).toEqual([]);
    await expect(getIntegrationHealth(other, mainId)).rejects.toMatchObject({ code: "not_found" });
  });
});
