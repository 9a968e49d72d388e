// Per-user rate and concurrency limits and the per-user circuit breakers, through the real call paths
// (the /api/v1 call route, the agent endpoint, callIntegrationTool → pool) against real fixture servers.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Client, SdkHttpError, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { POST as callRoute } from "@/app/api/v1/integrations/[id]/tools/[name]/call/route";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { callIntegrationTool } from "@/lib/data/integrations";
import { getDb } from "@/lib/db";
import { historySettled } from "@/lib/data/history";
import { AppError } from "@/lib/errors";
import { breakerState, configureLimits, inflightCalls, resetLimits } from "@/lib/limits/calls";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, ENDPOINT, inProcessFetch, makeUserWithToken } from "./agent-helpers";
import { waitFor } from "./wait";

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
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
) =>
  callIntegrationTool(
    { id: userId },
    id,
    tool,
    { arguments: args, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) },
    "api",
    { signal: opts.signal },
  );

// Rate limits in these tests refill one call an hour: no token comes back while a slow machine runs them
// (refilling at the configured rate is tested with a clock in lib/limits/limits.test.ts).
const NO_REFILL = 1 / 3600;

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
    configureLimits({ ratePerSec: NO_REFILL, burst: 3 });
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
    configureLimits({ ratePerSec: NO_REFILL, burst: 1 });
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
    const id = await addIntegration(user.id, "Held", healthy.url);
    const stop = new AbortController();
    const held = [1, 2].map(() =>
      call(user.id, id, "hang", {}, { signal: stop.signal }).catch((e: unknown) => e),
    );
    await waitFor(() => inflightCalls(user.id) === 2, { what: "two calls in flight" });
    const refused = await caught(call(user.id, id, "echo", { text: "third" }));
    expect(refused.status).toBe(429);
    expect(refused.code).toBe("too_many_concurrent_calls");
    expect(refused.details?.retryAfterSec).toBe(1);
    const other = await makeUserWithToken("conc-other");
    const otherId = await addIntegration(other.user.id, "Held", healthy.url);
    expect((await call(other.user.id, otherId, "echo", { text: "fine" })).result.isError).toBeFalsy();
    stop.abort();
    for (const e of await Promise.all(held)) expect((e as AppError).code).toBe("cancelled");
    expect((await call(user.id, id, "echo", { text: "after" })).result.isError).toBeFalsy();
  });
});

describe("circuit breaker per user and server", () => {
  it("opens on a hanging server and fails fast without contacting it, for that user only", async () => {
    // The cool-down outlasts the test: the circuit stays open however slow the machine is.
    configureLimits({ breaker: { failureThreshold: 3, coolDownMs: 60 * 60_000 }, minCountedTimeoutMs: 0 });
    const hanging = await server({ name: "hanging" });
    const { user } = await makeUserWithToken("breaker");
    const id = await addIntegration(user.id, "Hanging", hanging.url);
    const other = await makeUserWithToken("breaker-other");
    const otherId = await addIntegration(other.user.id, "Hanging", hanging.url);
    for (let i = 0; i < 3; i++)
      expect((await caught(call(user.id, id, "hang", {}, { timeoutMs: 150 }))).code).toBe("timeout");
    expect(await breakerState(user.id, hanging.url)).toMatchObject({ state: "open", consecutiveFailures: 3 });

    const before = hanging.requests.length;
    const fast = await caught(call(user.id, id, "echo", { text: "x" }));
    expect(fast.code).toBe("circuit_open");
    expect(fast.status).toBe(503);
    expect(fast.message).toContain(new URL(hanging.url).host);
    expect(fast.details?.retryAfterSec).toBeGreaterThanOrEqual(1);
    expect(hanging.requests.length).toBe(before); // nothing was sent
    // the circuit is this user's own: another user's calls to the same server still go through
    expect((await call(other.user.id, otherId, "echo", { text: "x" })).result.isError).toBeFalsy();
    expect(hanging.requests.length).toBeGreaterThan(before);
    const db = await getDb();
    await historySettled();
    expect(await db.toolCall.count({ where: { userId: user.id, status: "rejected" } })).toBe(1);
  });

  it("after the cool-down one probe goes through: a failing probe opens it again, a passing one closes it", async () => {
    configureLimits({ breaker: { failureThreshold: 1, coolDownMs: 300 }, minCountedTimeoutMs: 0 });
    const flaky = await server({ name: "flaky" });
    const { user } = await makeUserWithToken("probe");
    const id = await addIntegration(user.id, "Flaky", flaky.url);
    const other = await makeUserWithToken("probe-other");
    const otherId = await addIntegration(other.user.id, "Flaky", flaky.url);
    const coolDown = () =>
      waitFor(async () => Date.now() >= ((await breakerState(user.id, flaky.url)).retryAt ?? Infinity), {
        what: "the cool-down",
      });

    expect((await caught(call(user.id, id, "hang", {}, { timeoutMs: 150 }))).code).toBe("timeout");
    expect((await breakerState(user.id, flaky.url)).state).toBe("open");
    await coolDown();
    expect((await caught(call(user.id, id, "hang", {}, { timeoutMs: 150 }))).code).toBe("timeout");
    expect(await breakerState(user.id, flaky.url)).toMatchObject({ state: "open", consecutiveFailures: 2 });
    await coolDown();
    expect((await call(user.id, id, "echo", { text: "probe" })).result.isError).toBeFalsy();
    expect(await breakerState(user.id, flaky.url)).toEqual({
      state: "closed",
      consecutiveFailures: 0,
      scope: "server",
    });
    expect((await call(other.user.id, otherId, "echo", { text: "back" })).result.isError).toBeFalsy();
  });

  it("counts connection failures of a server that went away", async () => {
    configureLimits({ breaker: { failureThreshold: 2, coolDownMs: 60 * 60_000 } });
    const doomed = await server({ name: "doomed" });
    const { user } = await makeUserWithToken("down");
    const id = await addIntegration(user.id, "Doomed", doomed.url);
    await call(user.id, id, "echo", { text: "up" });
    await doomed.close();
    await caught(call(user.id, id, "echo", { text: "down" }));
    await caught(call(user.id, id, "echo", { text: "down" }));
    expect((await breakerState(user.id, doomed.url)).state).toBe("open");
    expect((await caught(call(user.id, id, "echo", { text: "x" }))).code).toBe("circuit_open");
  });

  it("isError results and short caller deadlines never open it", async () => {
    configureLimits({ breaker: { failureThreshold: 2 } });
    const { user } = await makeUserWithToken("tool-errors");
    const id = await addIntegration(user.id, "Errors", healthy.url);
    for (let i = 0; i < 4; i++) expect((await call(user.id, id, "fail")).result.isError).toBe(true);
    // a 100 ms deadline chosen by the caller says nothing about the server (minCountedTimeoutMs 5 s)
    for (let i = 0; i < 3; i++)
      expect((await caught(call(user.id, id, "hang", {}, { timeoutMs: 100 }))).code).toBe("timeout");
    expect((await breakerState(user.id, healthy.url)).state).toBe("closed");
  });
});

describe("isolation", () => {
  // How fast the healthy calls stay under this load is measured by bench/agent.ts (hanging servers).
  it("a hanging server never holds up another user's calls to a healthy one", async () => {
    const limit = 20;
    configureLimits({ concurrentPerUser: limit, ratePerSec: 1000, burst: 1000 });
    const stuck = await server({ name: "stuck" });
    const a = await makeUserWithToken("hog");
    const stuckId = await addIntegration(a.user.id, "Stuck", stuck.url);
    const b = await makeUserWithToken("victim");
    const okId = await addIntegration(b.user.id, "Fine", healthy.url);

    // user A fills their concurrency on the hanging server (and gets 429s beyond it)
    const stops = Array.from({ length: 30 }, () => new AbortController());
    const hogs = stops.map((stop) =>
      call(a.user.id, stuckId, "hang", {}, { signal: stop.signal }).catch((e: unknown) => e),
    );
    await waitFor(() => inflightCalls(a.user.id) === limit, {
      what: "user A's calls in flight",
    });
    // user B's calls complete while every one of A's calls is still hanging
    for (let i = 0; i < 10; i++)
      expect((await call(b.user.id, okId, "echo", { text: String(i) })).result.isError).toBeFalsy();
    expect(inflightCalls(a.user.id)).toBe(limit);

    for (const stop of stops) stop.abort();
    const codes = (await Promise.all(hogs)).map((e) => (e instanceof AppError ? e.code : "ok"));
    expect(codes.filter((c) => c === "too_many_concurrent_calls").length).toBe(30 - limit);
    expect(codes.filter((c) => c === "cancelled").length).toBe(limit);
  });
});
