// Per-user rate and concurrency limits and the per-origin circuit breaker, through the real call paths
// (the /api/v1 call route, the agent endpoint, callIntegrationTool → pool) against real fixture servers.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Client, SdkHttpError, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { POST as callRoute } from "@/app/api/v1/integrations/[id]/tools/[name]/call/route";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { callIntegrationTool } from "@/lib/data/integrations";
import { getDb } from "@/lib/db";
import { historySettled } from "@/lib/data/integrations";
import { AppError } from "@/lib/errors";
import { breakerState, configureLimits, resetLimits } from "@/lib/limits/calls";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, ENDPOINT, inProcessFetch, makeUserWithToken } from "./agent-helpers";

const servers: McpFixture[] = [];
async function server(opts: Parameters<typeof startMcpServer>[0] = {}) {
  const s = await startMcpServer(opts);
  servers.push(s);
  return s;
}

async function caught(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

const call = (
  userId: string,
  id: string,
  tool: string,
  args: Record<string, unknown> = {},
  timeoutMs?: number,
) =>
  callIntegrationTool(
    { id: userId },
    id,
    tool,
    { arguments: args, ...(timeoutMs ? { timeoutMs } : {}) },
    "api",
  );

let healthy: McpFixture;
beforeAll(async () => {
  healthy = await server({ name: "healthy" });
});
afterEach(() => resetLimits());
afterAll(async () => {
  await closeAgentEndpoint();
  await closeAll();
  await Promise.all(servers.map((s) => s.close().catch(() => {})));
});

describe("per-user rate limit", () => {
  it("the API answers 429 with Retry-After once the burst is spent; other users are unaffected", async () => {
    configureLimits({ ratePerSec: 0.5, burst: 3 });
    const { user, token } = await makeUserWithToken("rate");
    const id = await addIntegration(user.id, "Rated", healthy.url);
    const post = () =>
      callRoute(
        new Request(`http://localhost:3999/api/v1/integrations/${id}/tools/echo/call`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ arguments: { text: "hi" } }),
        }),
        { params: Promise.resolve({ id, name: "echo" }) },
      );
    for (let i = 0; i < 3; i++) expect((await post()).status).toBe(200);
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await limited.json()).error.code).toBe("too_many_calls");

    const other = await makeUserWithToken("rate-other");
    const otherId = await addIntegration(other.user.id, "Rated", healthy.url);
    expect((await call(other.user.id, otherId, "echo", { text: "ok" })).result.isError).toBeFalsy();
    // refusals are not written to the activity log
    const db = await getDb();
    await historySettled();
    expect(await db.toolCall.count({ where: { userId: user.id } })).toBe(3);
  });

  it("the agent endpoint sheds tools/call with HTTP 429 + Retry-After", async () => {
    configureLimits({ ratePerSec: 0.5, burst: 1 });
    const { user, token } = await makeUserWithToken("rate-agent");
    await addIntegration(user.id, "Rated", healthy.url);
    const seen: Response[] = [];
    const recording = async (input: string | URL | Request, init?: RequestInit) => {
      const res = await inProcessFetch(input, init);
      seen.push(res.clone());
      return res;
    };
    const client = new Client({ name: "t", version: "1" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(ENDPOINT), {
        fetch: recording,
        authProvider: { token: async () => token },
      }),
    );
    try {
      expect((await client.callTool({ name: "rated__echo", arguments: { text: "x" } })).isError).toBeFalsy();
      const err = await client
        .callTool({ name: "rated__echo", arguments: { text: "y" } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SdkHttpError);
      expect((err as SdkHttpError).status).toBe(429);
      const limited = seen.at(-1)!;
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // listing is not a tool call and stays available
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });
});

describe("per-user concurrency limit", () => {
  it("refuses calls past the limit with 429 until one finishes, for that user only", async () => {
    configureLimits({ concurrentPerUser: 2 });
    const { user } = await makeUserWithToken("conc");
    const id = await addIntegration(user.id, "Slow", healthy.url);
    const slow = [call(user.id, id, "slow", { ms: 600 }), call(user.id, id, "slow", { ms: 600 })];
    await new Promise((r) => setTimeout(r, 50));
    const refused = await caught(call(user.id, id, "echo", { text: "third" }));
    expect(refused.status).toBe(429);
    expect(refused.code).toBe("too_many_concurrent_calls");
    expect(refused.details?.retryAfterSec).toBe(1);
    const other = await makeUserWithToken("conc-other");
    const otherId = await addIntegration(other.user.id, "Slow", healthy.url);
    expect((await call(other.user.id, otherId, "echo", { text: "fine" })).result.isError).toBeFalsy();
    await Promise.all(slow);
    expect((await call(user.id, id, "echo", { text: "after" })).result.isError).toBeFalsy();
  });
});

describe("circuit breaker per server origin", () => {
  it("opens on a hanging server, fails fast without contacting it, probes after the cool-down, closes", async () => {
    configureLimits({ breaker: { failureThreshold: 3, coolDownMs: 700 }, minCountedTimeoutMs: 0 });
    const hanging = await server({ name: "hanging" });
    const { user } = await makeUserWithToken("breaker");
    const id = await addIntegration(user.id, "Hanging", hanging.url);
    // set up before the circuit opens: signing up takes long enough to outlast the cool-down
    const other = await makeUserWithToken("breaker-other");
    const otherId = await addIntegration(other.user.id, "Hanging", hanging.url);
    for (let i = 0; i < 3; i++)
      expect((await caught(call(user.id, id, "hang", {}, 150))).code).toBe("timeout");
    expect(breakerState(hanging.url)).toMatchObject({ state: "open", consecutiveFailures: 3 });

    const before = hanging.requests.length;
    const t0 = performance.now();
    const fast = await caught(call(user.id, id, "echo", { text: "x" }));
    expect(performance.now() - t0).toBeLessThan(100);
    expect(fast.code).toBe("circuit_open");
    expect(fast.status).toBe(503);
    expect(fast.message).toContain(new URL(hanging.url).host);
    expect(fast.details?.retryAfterSec).toBeGreaterThanOrEqual(1);
    expect(hanging.requests.length).toBe(before); // nothing was sent
    // the same origin fails fast for another user too: the breaker belongs to the server
    expect((await caught(call(other.user.id, otherId, "echo", { text: "x" }))).code).toBe("circuit_open");
    const db = await getDb();
    await historySettled();
    expect(await db.toolCall.count({ where: { userId: user.id, status: "rejected" } })).toBe(1);

    // after the cool-down one probe goes through; a failing probe opens the circuit again
    await new Promise((r) => setTimeout(r, 750));
    expect((await caught(call(user.id, id, "hang", {}, 150))).code).toBe("timeout");
    expect(breakerState(hanging.url).state).toBe("open");
    expect((await caught(call(user.id, id, "echo", { text: "x" }))).code).toBe("circuit_open");
    // a successful probe closes it
    await new Promise((r) => setTimeout(r, 750));
    expect((await call(user.id, id, "echo", { text: "probe" })).result.isError).toBeFalsy();
    expect(breakerState(hanging.url)).toEqual({ state: "closed", consecutiveFailures: 0 });
    expect((await call(other.user.id, otherId, "echo", { text: "back" })).result.isError).toBeFalsy();
  });

  it("counts connection failures of a server that went away", async () => {
    configureLimits({ breaker: { failureThreshold: 2, coolDownMs: 60_000 } });
    const doomed = await server({ name: "doomed" });
    const { user } = await makeUserWithToken("down");
    const id = await addIntegration(user.id, "Doomed", doomed.url);
    await call(user.id, id, "echo", { text: "up" });
    await doomed.close();
    await caught(call(user.id, id, "echo", { text: "down" }));
    await caught(call(user.id, id, "echo", { text: "down" }));
    expect(breakerState(doomed.url).state).toBe("open");
    expect((await caught(call(user.id, id, "echo", { text: "x" }))).code).toBe("circuit_open");
  });

  it("isError results and short caller deadlines never open it", async () => {
    configureLimits({ breaker: { failureThreshold: 2 } });
    const { user } = await makeUserWithToken("tool-errors");
    const id = await addIntegration(user.id, "Errors", healthy.url);
    for (let i = 0; i < 4; i++) expect((await call(user.id, id, "fail")).result.isError).toBe(true);
    // a 100 ms deadline chosen by the caller says nothing about the server (minCountedTimeoutMs 5 s)
    for (let i = 0; i < 3; i++)
      expect((await caught(call(user.id, id, "hang", {}, 100))).code).toBe("timeout");
    expect(breakerState(healthy.url).state).toBe("closed");
  });
});

describe("isolation", () => {
  it("a hanging server never slows another user's calls to a healthy one", async () => {
    configureLimits({ ratePerSec: 1000, burst: 1000 });
    const stuck = await server({ name: "stuck" });
    const a = await makeUserWithToken("hog");
    const stuckId = await addIntegration(a.user.id, "Stuck", stuck.url);
    const b = await makeUserWithToken("victim");
    const okId = await addIntegration(b.user.id, "Fine", healthy.url);

    const timeCalls = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await call(b.user.id, okId, "echo", { text: String(i) });
        out.push(performance.now() - t0);
      }
      return out.sort((x, y) => x - y);
    };
    await timeCalls(5); // warm the pooled session
    const baseline = await timeCalls(30);

    // user A saturates their concurrency on the hanging server (and gets 429s beyond it)
    const hogs = Array.from({ length: 30 }, () =>
      call(a.user.id, stuckId, "hang", {}, 2500).catch((e: unknown) => e),
    );
    await new Promise((r) => setTimeout(r, 100));
    const loaded = await timeCalls(30);
    const settled = await Promise.all(hogs);
    const codes = settled.map((e) => (e instanceof AppError ? e.code : "ok"));
    expect(codes.filter((c) => c === "too_many_concurrent_calls").length).toBe(10);

    const p95 = (xs: number[]) => xs[Math.floor(xs.length * 0.95) - 1];
    // generous absolute slack: the point is "not seconds", i.e. not queued behind the hanging calls
    expect(p95(loaded)).toBeLessThan(Math.max(2 * p95(baseline), p95(baseline) + 50));
  });
});
