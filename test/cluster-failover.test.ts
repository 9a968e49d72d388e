// Failover behind HAProxy (docs/deploy.md): two instances on one PostgreSQL and one Redis; several agent clients
// (2025-era sessions and 2026-07-28 stateless clients, SDK v2 over Streamable HTTP through HAProxy) make a
// stream of calls while instance A holds the sessions and a `poke tunnel`. A is killed with SIGKILL mid-stream.
// Every call then completes or fails cleanly (a JSON-RPC error or an HTTP error, never a hang), every call a
// client saw complete has its history row, the tunnel comes back through B, and every client goes on.
import {
  Client,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "../lib/db";
import { addIntegration, textOf } from "./agent-helpers";
import { apiCall, cliEnv, LiveCli, tempConfigHome, writeLogin, type SeededUser } from "./cli-helpers";
import { clusterSkipReason, REDIS_URL, startCluster, type Cluster } from "./cluster-helpers";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { waitFor } from "./wait";

type Era = "legacy" | "modern";
type Outcome = "ok" | "rpc_error" | "http_error" | "network_error" | "timeout" | "other";
type CallRecord = {
  client: string;
  era: Era;
  ms: number;
  started: number;
  ended: number;
  outcome: Outcome;
  detail?: string;
};

/** A call that outlives this is a hang (the clients' own timeout is longer, so it never hides one). */
const HANG_MS = 60_000;
const CLIENT_TIMEOUT_MS = 90_000;
/** Calls per client at most (the loop stops earlier once the test has seen what it needs). */
const MAX_CALLS = 80;

let cluster: Cluster;
let user: SeededUser;
let work: McpFixture;
let local: McpFixture;
let cli: LiveCli;
const redis = new Redis(REDIS_URL);

describe.skipIf(clusterSkipReason)("an instance killed with SIGKILL mid-stream", () => {
  beforeAll(async () => {
    // Limits far above this stream of calls: every refusal would be a failure of the failover.
    cluster = await startCluster([], {
      CALL_RATE_PER_SEC: "1000",
      CALL_BURST: "1000",
      CALL_CONCURRENCY: "100",
    });
    user = await cluster.seedUser("failover");
    work = await startMcpServer();
    local = await startMcpServer({ mode: "sessionful" });
  }, 400_000);

  afterAll(async () => {
    await cli?.stop("SIGKILL");
    await Promise.allSettled([work?.close(), local?.close()]);
    await cluster?.stop();
    redis.disconnect();
  });

  let seq = 0;
  const records: CallRecord[] = [];

  function classify(err: unknown): { outcome: Outcome; detail: string } {
    if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout)
      return { outcome: "timeout", detail: err.message };
    if (err instanceof ProtocolError) return { outcome: "rpc_error", detail: `${err.code} ${err.message}` };
    if (err instanceof SdkHttpError) return { outcome: "http_error", detail: `${err.status} ${err.message}` };
    // The connection to the instance broke while the request was being sent: the client knows at once.
    if (err instanceof TypeError && err.message === "fetch failed")
      return { outcome: "network_error", detail: String((err as { cause?: unknown }).cause ?? err) };
    return { outcome: "other", detail: String(err) };
  }

  async function connect(era: Era): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const client = new Client(
      { name: `failover-${era}`, version: "1.0.0" },
      era === "modern" ? { versionNegotiation: { mode: "auto" } } : {},
    );
    const transport = new StreamableHTTPClientTransport(new URL(`${cluster.url}/api/mcp`), {
      authProvider: { token: async () => user.token },
    });
    await client.connect(transport);
    expect(client.getProtocolEra()).toBe(era);
    return { client, transport };
  }

  /**
   * One agent: calls work__slow (each call's `ms` is unique, so its history row is found by it) until `stop`;
   * a 2025-era session answered 404 initializes again, as the spec asks.
   */
  async function agent(name: string, era: Era, stop: () => boolean) {
    let c = await connect(era);
    let reinitialized = 0;
    for (let i = 0; i < MAX_CALLS && !stop(); i++) {
      // Long enough that a call seen in flight on A is still running when A is killed.
      const ms = 1_500 + ++seq;
      const rec: CallRecord = { client: name, era, ms, started: Date.now(), ended: 0, outcome: "ok" };
      records.push(rec);
      try {
        const r = await c.client.callTool(
          { name: "work__slow", arguments: { ms } },
          { timeout: CLIENT_TIMEOUT_MS },
        );
        expect(textOf(r)).toBe(`slept ${ms}ms`);
      } catch (err) {
        Object.assign(rec, classify(err));
      }
      rec.ended = Date.now();
      if (era === "legacy" && rec.outcome === "http_error" && /^404 /.test(rec.detail ?? "")) {
        await c.client.close().catch(() => {});
        c = await connect(era);
        reinitialized++;
      }
    }
    await c.transport.terminateSession().catch(() => {});
    await c.client.close().catch(() => {});
    return { name, reinitialized };
  }

  /** Sessions whose calls are in flight on `instance`, from the event store's records in Redis. */
  async function inFlightOn(instanceId: string): Promise<number> {
    const keys = await redis.keys(`${cluster.redisPrefix}agent:pending:*`);
    let n = 0;
    for (const k of keys) {
      const v = Object.values(await redis.hgetall(k));
      if (v.some((x) => (JSON.parse(x) as { instance: string }).instance === instanceId)) n++;
    }
    return n;
  }

  /** A bare 2025-06-18 client (initialize, then POSTs on its session) through HAProxy. */
  async function olderClient() {
    const headers: Record<string, string> = {
      authorization: `Bearer ${user.token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    };
    const post = (body: unknown) =>
      fetch(`${cluster.url}/api/mcp`, { method: "POST", headers, body: JSON.stringify(body) });
    const init = await post({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "older", version: "1" },
      },
    });
    expect(init.status).toBe(200);
    headers["mcp-session-id"] = init.headers.get("mcp-session-id")!;
    headers["mcp-protocol-version"] = "2025-06-18";
    await init.text();
    expect((await post({ jsonrpc: "2.0", method: "notifications/initialized" })).status).toBe(202);
    return { post };
  }

  const sseMessages = (text: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith("data: ") && l.length > 6)
      .map((l) => JSON.parse(l.slice(6)) as unknown);

  const tunnelCall = (integrationId: string, text: string) =>
    apiCall<{ result?: unknown; error?: { code: string } }>(
      cluster.app,
      user,
      "POST",
      `/api/v1/integrations/${integrationId}/tools/echo/call`,
      { arguments: { text } },
    );

  it("every call completes or fails cleanly, answered calls have their history, the tunnel and the agents go on through B", async () => {
    const { a, b } = cluster;
    const db = await getDb();
    const workId = await addIntegration(user.id, "Work", work.url);
    // Arguments are kept in the history, so each answered call's row is found by its unique `ms`.
    await db.integration.update({ where: { id: workId }, data: { storePayloads: true } });

    // While B drains, new connections go to A: the tunnel and the 2025-era sessions are made there.
    await cluster.lbSet(b, "drain");
    const home = tempConfigHome();
    writeLogin(home, cluster.app, user); // the CLI dials HAProxy, as in production
    cli = new LiveCli(
      ["tunnel", local.url, "-n", "laptop"],
      cliEnv(home, { POKE_TUNNEL_HEARTBEAT_MS: "1000" }),
    );
    await cli.waitFor(/Tunnel online/);
    const tunnel = await db.tunnel.findFirstOrThrow({ where: { userId: user.id } });
    expect(tunnel.instanceId).toBe(a.instanceId);

    let stopped = false;
    const stop = () => stopped;
    const legacy = [0, 1, 2].map((i) => agent(`legacy-${i}`, "legacy", stop));
    // Both 2025-era sessions exist (stuck to A) before B takes new connections again.
    await waitFor(() => new Set(records.filter((r) => r.era === "legacy").map((r) => r.client)).size === 3, {
      what: "three 2025-era sessions calling",
      timeoutMs: 120_000,
    });
    // And a client of 2025-06-18 (no priming events, so it cannot resume a stream) with a call that outlasts A.
    const older = await olderClient();
    const orphanCall = older.post({
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: { name: "work__slow", arguments: { ms: 600_000 } },
    });
    void orphanCall.then((r) => r.text()).catch(() => {});
    await waitFor(() => work.calls.some((c) => c.arguments.ms === 600_000), {
      what: "the older client's call running",
    });
    await cluster.lbSet(b, "ready");
    const modern = [0, 1].map((i) => agent(`modern-${i}`, "modern", stop));

    // Tunnel calls through HAProxy alongside: each answers or fails with a clean error.
    const tunnelResults: { status: number; code?: string; ms: number }[] = [];
    const tunnelLoop = (async () => {
      for (let i = 0; i < MAX_CALLS && !stopped; i++) {
        const t0 = Date.now();
        const r = await tunnelCall(tunnel.integrationId, `t${i}`);
        tunnelResults.push({ status: r.status, code: r.data?.error?.code, ms: Date.now() - t0 });
      }
    })();

    // Kill A once the stream is under way and a 2025-era call is in flight there.
    await waitFor(() => records.filter((r) => r.ended && r.outcome === "ok").length >= 10, {
      what: "calls completing before the kill",
      timeoutMs: 120_000,
    });
    await waitFor(async () => (await inFlightOn(a.instanceId)) > 0, {
      what: "a 2025-era call in flight on A",
      timeoutMs: 60_000,
      intervalMs: 5,
    });
    const killedAt = Date.now();
    await a.kill("SIGKILL");

    // The tunnel comes back: the CLI reconnects through HAProxy, to B.
    await cli.waitFor(/Tunnel online/, 120_000, cli.stdout.indexOf("Tunnel online") + 1);
    await waitFor(async () => (await tunnelCall(tunnel.integrationId, "after")).status === 200, {
      what: "the tunnel serving calls through B",
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    expect((await db.tunnel.findFirstOrThrow({ where: { id: tunnel.id } })).instanceId).toBe(b.instanceId);

    // Every agent goes on: two calls answered after the kill, each.
    const names = ["legacy-0", "legacy-1", "legacy-2", "modern-0", "modern-1"];
    await waitFor(
      () =>
        names.every(
          (n) =>
            records.filter((r) => r.client === n && r.started > killedAt && r.outcome === "ok").length >= 2,
        ),
      { what: "every agent answered again after the kill", timeoutMs: 180_000, intervalMs: 100 },
    );
    stopped = true;
    const agents = await Promise.all([...legacy, ...modern]);
    await tunnelLoop;

    // Completed or failed cleanly: no call hung, none outlived the bound, 2025-era calls never timed out
    // (an orphaned one is answered with a JSON-RPC error by the instance that resumed its stream).
    const report = JSON.stringify(records.filter((r) => r.outcome !== "ok").slice(0, 20));
    for (const r of records) {
      expect(r.ended, report).toBeGreaterThan(0);
      expect(r.ended - r.started, report).toBeLessThan(HANG_MS);
      expect(["ok", "rpc_error", "http_error", "network_error"], report).toContain(r.outcome);
    }
    const orphaned = records.filter((r) => r.outcome === "rpc_error");
    for (const r of orphaned) expect(r.detail, report).toMatch(/^-32603 .*may or may not have run/);
    // The 2025-era call in flight on A when it died settled with that error, at once: the instance that
    // resumed its stream answered it (its client's own timeout is far longer than the hang bound).
    expect(orphaned.filter((r) => r.era === "legacy").length, report).toBeGreaterThan(0);
    for (const t of tunnelResults) {
      expect(t.ms).toBeLessThan(HANG_MS);
      // Until the CLI is back: the tunnel is offline, or its breaker paused the server for a while.
      if (t.status !== 200)
        expect(t.code, JSON.stringify(tunnelResults)).toMatch(/^(tunnel_offline|circuit_open)$/);
    }
    // Sessions continued from Redis, or initialized again after the spec's 404: both are fine, bounded.
    expect(agents.every((x) => x.reinitialized <= 1)).toBe(true);

    // The older client never resumes: its next request's event stream, on B, carries its orphaned call's error.
    const next = await older.post({ jsonrpc: "2.0", id: 8, method: "ping" });
    expect(next.status).toBe(200);
    const answers = sseMessages(await next.text());
    expect(answers).toContainEqual({
      jsonrpc: "2.0",
      id: 7,
      error: expect.objectContaining({ code: -32603 }),
    });
    expect(answers).toContainEqual(expect.objectContaining({ id: 8, result: {} }));

    // Nothing lost: every call a client saw answered has its history row.
    const rows = await db.toolCall.findMany({
      where: { userId: user.id, tool: "slow" },
      select: { arguments: true, status: true },
    });
    const recorded = new Set(rows.map((row) => (row.arguments as { ms?: number } | null)?.ms));
    const missing = records.filter((r) => r.outcome === "ok" && !recorded.has(r.ms));
    expect(missing, `answered calls without a history row: ${JSON.stringify(missing)}`).toEqual([]);
  }, 900_000);
});
