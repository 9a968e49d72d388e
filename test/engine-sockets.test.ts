// A call that times out or is cancelled frees its socket at once (docs/security.md §14). The hostile server
// keeps a tool call's event stream alive with a `: keepalive` comment every second and never answers, so only
// the engine ending the request closes it; the test counts the server's own open sockets and streams. Both
// protocol eras (2025 initialize: the call is cancelled by notifications/cancelled; 2026: by ending the
// request), through the engine, the REST API and the agent endpoint. Real fixture server, real database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POST as callRoute } from "@/app/api/v1/integrations/[id]/tools/[name]/call/route";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import type { SessionUser } from "@/lib/data/users";
import { callTool, closeAll } from "@/lib/mcp/pool";
import { startHostileServer, type HostileFixture } from "./fixtures/mcp-servers";
import { addIntegration, connectAgent, makeUserWithToken, textOf, type AgentClient } from "./agent-helpers";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

const CALLS = 20;
const clients: AgentClient[] = [];
const fixtures: HostileFixture[] = [];

type Setup = { fx: HostileFixture; user: SessionUser; token: string; id: string };
const eras = {} as Record<"legacy" | "modern", Setup>;

beforeAll(async () => {
  for (const era of ["legacy", "modern"] as const) {
    // sessionful: a 2025-11-25 server (initialize); modern: 2026-07-28, which the engine negotiates.
    const fx = await startHostileServer("sse-keepalive", {
      mode: era === "legacy" ? "sessionful" : "modern",
    });
    fixtures.push(fx);
    const { user, token } = await makeUserWithToken(`sockets-${era}`);
    eras[era] = { fx, user, token, id: await addIntegration(user.id, "Keepalive", fx.url) };
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await closeAgentEndpoint();
  await closeAll();
  await Promise.all(fixtures.map((f) => f.close()));
});

/** The server's sockets with the pooled session open and idle: what every test must get back to. */
async function baseline(s: Setup): Promise<number> {
  const r = await callTool({ userId: s.user.id, integrationId: s.id }, "echo", { text: "warm" });
  expect(textOf(r.result)).toContain("warm");
  return s.fx.openSockets();
}

/**
 * Every held stream ends and the server's socket count falls back to the baseline (no sleeps: polled). Idle
 * keep-alive sockets (the cancellations' own requests, connections opened for a call that was cancelled
 * before it was sent) close on their keep-alive timeout, at most 30 s; a held stream never would.
 */
async function expectFreed(s: Setup, before: number): Promise<void> {
  await waitFor(() => s.fx.openStreams() === 0, { what: "every held event stream to end" });
  await waitFor(async () => (await s.fx.openSockets()) <= before, {
    what: `the server's open sockets to fall back to ${before}`,
    timeoutMs: 90_000,
  });
}

const cancelledNotices = (fx: HostileFixture) =>
  fx.requests.filter((r) => r.rpcMethod === "notifications/cancelled").length;

describe.each(["legacy", "modern"] as const)("%s era", (era) => {
  it(`frees the sockets of ${CALLS} calls that time out (timeoutMs: 300)`, async () => {
    const s = eras[era];
    const before = await baseline(s);
    const notices = cancelledNotices(s.fx);
    const calls = Array.from({ length: CALLS }, () =>
      expectAppError(
        callTool({ userId: s.user.id, integrationId: s.id }, "hang", {}, { timeoutMs: 300 }),
        "timeout",
      ),
    );
    const errors = await Promise.all(calls);
    expect(errors.every((e) => e.status === 504)).toBe(true);
    await expectFreed(s, before);
    // The 2025 era says so to the server too; the 2026 era's cancellation is the request ending.
    if (era === "legacy")
      await waitFor(() => cancelledNotices(s.fx) - notices === CALLS, { what: "a cancellation per call" });
    // The session itself is fine.
    const r = await callTool({ userId: s.user.id, integrationId: s.id }, "echo", { text: "after" });
    expect(textOf(r.result)).toContain("after");
  });

  it("frees the sockets of calls their caller cancels", async () => {
    const s = eras[era];
    const before = await baseline(s);
    const ac = new AbortController();
    const calls = Array.from({ length: 10 }, () =>
      expectAppError(
        callTool({ userId: s.user.id, integrationId: s.id }, "hang", {}, { signal: ac.signal }),
        "cancelled",
      ),
    );
    await waitFor(() => s.fx.openStreams() === 10, { what: "the ten calls' streams to open" });
    ac.abort();
    await Promise.all(calls);
    await expectFreed(s, before);
  });

  it("frees the sockets of REST calls that time out, and of one its client abandons", async () => {
    const s = eras[era];
    const before = await baseline(s);
    const rest = (body: unknown, signal?: AbortSignal) =>
      callRoute(
        new Request(`http://localhost:3999/api/v1/integrations/${s.id}/tools/hang/call`, {
          method: "POST",
          headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
          signal,
        }),
        { params: Promise.resolve({ id: s.id, name: "hang" }) },
      );
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => rest({ arguments: {}, timeoutMs: 300 })),
    );
    for (const res of answers) {
      expect(res.status).toBe(504);
      expect((await res.json()).error.code).toBe("timeout");
    }
    await expectFreed(s, before);

    const ac = new AbortController();
    const pending = rest({ arguments: {} }, ac.signal);
    await waitFor(() => s.fx.openStreams() === 1, { what: "the call's stream to open" });
    ac.abort();
    await pending.catch(() => undefined);
    await expectFreed(s, before);
  });

  it("frees the sockets of agent-endpoint calls the agent cancels", async () => {
    const s = eras[era];
    const before = await baseline(s);
    for (const agentEra of ["auto", "legacy"] as const) {
      const agent = await connectAgent(s.token, { era: agentEra });
      clients.push(agent);
      const ac = new AbortController();
      const calls = Array.from({ length: 5 }, () =>
        agent.client.callTool({ name: "keepalive__hang", arguments: {} }, { signal: ac.signal }).then(
          () => "answered",
          () => "cancelled",
        ),
      );
      await waitFor(() => s.fx.openStreams() === 5, { what: "the agent's five calls to reach the server" });
      ac.abort();
      expect(await Promise.all(calls)).toEqual(Array(5).fill("cancelled"));
      await expectFreed(s, before);
    }
  });
});
