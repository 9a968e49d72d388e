// The app's own limits, breakers and agent events with REDIS_URL set, checked from a second, independent
// Redis connection standing in for another instance: what the call path spends or opens here is spent or open
// there and back, an event published there reaches this instance's agent sessions, and this instance's
// events reach there (and are not delivered here twice). Last, Redis unreachable: calls go on under this
// instance's own limits.
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { emitToolsChanged, onToolsChanged } from "@/lib/agent/events";
import { emitToolsetChanged, onToolsetChanged, type ToolsetChange } from "@/lib/agent/toolset-events";
import { callIntegrationTool } from "@/lib/data/integrations";
import { getDb } from "@/lib/db";
import { setEnvForProcess } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { CircuitBreakers } from "@/lib/limits/breaker";
import { breakerState, configureLimits, rateLimitedFor, resetLimits, withBreaker } from "@/lib/limits/calls";
import { RedisBreakerStore, SharedCallLimiter } from "@/lib/limits/shared";
import { closeAll } from "@/lib/mcp/pool";
import { closeRedis, instanceId } from "@/lib/redis";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, connectAgent, makeUserWithToken, type AgentClient } from "./agent-helpers";
import { keyUnder, redisConnections, TEST_REDIS_URL } from "./redis-helpers";
import { waitFor } from "./wait";

const redis = redisConnections();
const prefix = redis.prefix();
const key = keyUnder(prefix);
let fixture: McpFixture;
let other: Redis;
const agents: AgentClient[] = [];

beforeAll(async () => {
  setEnvForProcess({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix });
  fixture = await startMcpServer({ name: "shared" });
  other = redis.connect();
});
afterEach(() => resetLimits());
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await closeAgentEndpoint();
  await closeAll();
  await fixture.close();
  await closeRedis();
  setEnvForProcess({ REDIS_URL: undefined, REDIS_PREFIX: undefined });
  await redis.cleanup();
});

const call = (userId: string, integrationId: string) =>
  callIntegrationTool({ id: userId }, integrationId, "echo", { arguments: { text: "hi" } }, "api");

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe("limits with REDIS_URL", () => {
  it("a user's rate budget spent here is spent on the other instance, and the other way round", async () => {
    const NO_REFILL = 1 / 3600;
    configureLimits({ ratePerSec: NO_REFILL, burst: 2 });
    const cfg = { ratePerSec: NO_REFILL, burst: 2, maxConcurrent: 20 };
    const elsewhere = new SharedCallLimiter(other, key);

    const { user } = await makeUserWithToken("shared-rate");
    const id = await addIntegration(user.id, "shared", fixture.url);
    await call(user.id, id);
    await call(user.id, id);
    expect(await elsewhere.rateWait(user.id, cfg)).toBeGreaterThan(0);
    expect(await elsewhere.admit(user.id, cfg)).toMatchObject({ ok: false, limit: "rate" });

    const { user: second } = await makeUserWithToken("shared-rate-2");
    const id2 = await addIntegration(second.id, "shared", fixture.url);
    expect((await elsewhere.admit(second.id, cfg)).ok).toBe(true);
    expect((await elsewhere.admit(second.id, cfg)).ok).toBe(true);
    expect(rateLimitedFor(second.id)).toBeUndefined(); // nothing refused here yet
    const err = await refusal(call(second.id, id2));
    expect(err).toMatchObject({ code: "too_many_calls", status: 429 });
    expect(rateLimitedFor(second.id)).toBeGreaterThan(0); // shed at the door from now on
    elsewhere.abandon();
  });

  it("concurrency slots held on the other instance count here", async () => {
    configureLimits({ concurrentPerUser: 1 });
    const elsewhere = new SharedCallLimiter(other, key);
    const { user } = await makeUserWithToken("shared-slots");
    const id = await addIntegration(user.id, "shared", fixture.url);
    const held = await elsewhere.admit(user.id, { ratePerSec: 10, burst: 50, maxConcurrent: 1 });
    if (!held.ok) throw new Error("the other instance was refused");
    expect(await refusal(call(user.id, id))).toMatchObject({ code: "too_many_concurrent_calls" });
    await elsewhere.release(user.id, held.lease);
    expect((await call(user.id, id)).result.isError).toBeFalsy();
    expect(await elsewhere.inflight(user.id)).toBe(0); // released when the call ended
    elsewhere.abandon();
  });

  it("a breaker opened by calls here is open on the other instance, and one opened there pauses calls here", async () => {
    const breaker = {
      failureThreshold: 2,
      coolDownMs: 60 * 60_000,
      probeTimeoutMs: 60_000,
      originUsers: 3,
      originWindowMs: 60_000,
    };
    configureLimits({ breaker, minCountedTimeoutMs: 0 });
    const elsewhere = new CircuitBreakers(() => breaker, new RedisBreakerStore(other, key));
    const url = "http://down.example.test/mcp";
    const failing = () => Promise.reject(new AppError("connection_refused", "refused", 502));
    for (let i = 0; i < 2; i++) await refusal(withBreaker("u-here", url, 10_000, failing));
    const target = { user: "u-here", server: url, origin: "http://down.example.test" };
    expect((await elsewhere.snapshot(target)).server).toMatchObject({
      state: "open",
      consecutiveFailures: 2,
    });

    const there = { ...target, user: "u-there" };
    for (let i = 0; i < 2; i++) {
      const a = await elsewhere.admit(there);
      if (!a.ok) throw new Error("refused before the threshold");
      await elsewhere.record(there, a, "failure", "refused");
    }
    expect(await breakerState("u-there", url)).toMatchObject({ state: "open", scope: "server" });
    let ran = false;
    const err = await refusal(withBreaker("u-there", url, 10_000, async () => void (ran = true)));
    expect(err).toMatchObject({ code: "circuit_open", status: 503 });
    expect(ran).toBe(false);
  });
});

describe("agent events with REDIS_URL", () => {
  const channel = (name: string) => `${prefix}events:${name}`;

  it("this instance's events reach the others once, and are delivered here once", async () => {
    const sub = redis.connect();
    const received: { from: string; event: unknown }[] = [];
    sub.on("message", (_ch: string, m: string) => {
      if (m.startsWith("{")) received.push(JSON.parse(m) as { from: string; event: unknown });
    });
    await sub.subscribe(channel("tools-changed"), channel("toolset-changed"));

    const here: string[] = [];
    const toolsets: ToolsetChange[] = [];
    const stop = onToolsChanged((u) => here.push(u));
    const stopToolsets = onToolsetChanged((c) => toolsets.push(c));
    // Subscribed once the relay hears another instance's message.
    await waitFor(
      async () => {
        await other.publish(channel("tools-changed"), JSON.stringify({ from: "probe", event: "probe-user" }));
        return here.includes("probe-user");
      },
      { intervalMs: 100, what: "this instance subscribed" },
    );

    emitToolsChanged("user-1");
    const change = { userId: "user-1", toolsetId: "ts-1", deleted: true };
    emitToolsetChanged(change);
    await waitFor(() => received.filter((m) => m.from === instanceId()).length === 2, {
      what: "both events published",
    });
    expect(received.filter((m) => m.from === instanceId()).map((m) => m.event)).toEqual(["user-1", change]);
    // A marker from another instance, after ours: once it is here, our own messages have come back too.
    await other.publish(channel("tools-changed"), JSON.stringify({ from: "other", event: "marker" }));
    await waitFor(() => here.includes("marker"), { what: "the marker" });
    expect(here.filter((u) => u === "user-1")).toHaveLength(1);
    expect(toolsets).toEqual([change]);
    // Malformed messages from the channel are dropped.
    await other.publish(channel("toolset-changed"), JSON.stringify({ from: "other", event: { userId: 5 } }));
    await other.publish(channel("tools-changed"), "not json");
    await other.publish(channel("tools-changed"), JSON.stringify({ from: "other", event: "marker-2" }));
    await waitFor(() => here.includes("marker-2"), { what: "the second marker" });
    expect(toolsets).toEqual([change]);
    stop();
    stopToolsets();
  });

  it("an agent session here gets list_changed when another instance changes the user's tools", async () => {
    const { user, token } = await makeUserWithToken("cross-instance");
    const id = await addIntegration(user.id, "Remote", fixture.url);
    const seen: string[][] = [];
    const agent = await connectAgent(token, {
      era: "legacy",
      onToolsChanged: (t) => seen.push(t.map((x) => x.name)),
    });
    agents.push(agent);
    expect((await agent.client.listTools()).tools.map((t) => t.name)).toContain("remote__echo");
    const db = await getDb();
    // Another instance disables the tool (one shared database) and publishes the change. Until the agent's
    // stream is open a notification can go nowhere: the change is made again until it arrives.
    let enabled = true;
    await waitFor(
      async () => {
        if (seen.some((names) => !names.includes("remote__echo"))) return true;
        enabled = !enabled;
        await db.tool.updateMany({ where: { integrationId: id, name: "echo" }, data: { enabled } });
        await other.publish(
          `${prefix}events:tools-changed`,
          JSON.stringify({ from: "instance-b", event: user.id }),
        );
        return false;
      },
      { intervalMs: 500, what: "list_changed from the other instance" },
    );
  });
});

describe("Redis unreachable", () => {
  it("calls go on under this instance's own limits, without waiting", async () => {
    setEnvForProcess({ REDIS_URL: "redis://127.0.0.1:1" }); // nothing listens there
    try {
      configureLimits({ ratePerSec: 1 / 3600, burst: 2 });
      const { user } = await makeUserWithToken("redis-down");
      const id = await addIntegration(user.id, "shared", fixture.url);
      expect((await call(user.id, id)).result.isError).toBeFalsy();
      expect((await call(user.id, id)).result.isError).toBeFalsy();
      expect(await refusal(call(user.id, id))).toMatchObject({ code: "too_many_calls" });
      emitToolsChanged(user.id); // publishing fails quietly
      const failing = () => Promise.reject(new AppError("connection_refused", "refused", 502));
      configureLimits({ breaker: { failureThreshold: 1, coolDownMs: 60 * 60_000 }, minCountedTimeoutMs: 0 });
      await refusal(withBreaker(user.id, "http://down.example.test/x", 10_000, failing));
      expect(await breakerState(user.id, "http://down.example.test/x")).toMatchObject({ state: "open" });
    } finally {
      await closeRedis();
      setEnvForProcess({ REDIS_URL: TEST_REDIS_URL });
    }
  });
});
