// The per-user cap on 2025-era agent sessions (docs/deploy.md): a user's short scripts that never send
// DELETE close each other, idle ones first, and never cut off a long-running client that holds its event
// stream open.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { configureLegacySessions } from "@/lib/agent/legacy-sessions";
import { connectAgent, ENDPOINT, inProcessFetch, makeUserWithToken, type AgentClient } from "./agent-helpers";

const open: AgentClient[] = [];
let restore: ReturnType<typeof configureLegacySessions> | undefined;

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  if (restore) configureLegacySessions(restore);
  restore = undefined;
});

afterAll(async () => {
  await closeAgentEndpoint();
});

const listToolsIn = (token: string, sessionId: string) =>
  inProcessFetch(ENDPOINT, {
    method: "POST",
    headers: {
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
      "mcp-session-id": sessionId,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });

describe("the per-user session cap", () => {
  it("closes idle sessions first: a long-running client outlives many scripts that never close", async () => {
    restore = configureLegacySessions({ maxPerUser: 3, quietMs: 0 });
    const { token } = await makeUserWithToken("cap");
    // The long-running client: connected first (least recently used), its GET event stream open.
    const long = await connectAgent(token, { era: "legacy" });
    open.push(long);
    await long.client.listTools();
    // Scripts that end without DELETE: their connections close, their sessions stay open (and idle).
    const ended: string[] = [];
    for (let i = 0; i < 6; i++) {
      const script = await connectAgent(token, { era: "legacy" });
      await script.client.listTools();
      ended.push(script.transport.sessionId!);
      await script.client.close();
    }
    // The long-running client (its event stream open all along) is still served: the scripts went instead.
    await expect(long.client.listTools()).resolves.toBeTruthy();
    // The cap held: the earliest scripts' sessions are gone (the spec's 404), the latest is still open.
    expect((await listToolsIn(token, ended[0])).status).toBe(404);
    expect((await listToolsIn(token, ended[5])).status).toBe(200);
  });

  it("past the cap without idle sessions, the least recently used goes", async () => {
    restore = configureLegacySessions({ maxPerUser: 2, quietMs: 60_000 });
    const { token } = await makeUserWithToken("cap-lru");
    const first = await connectAgent(token, { era: "legacy" });
    const second = await connectAgent(token, { era: "legacy" });
    open.push(first, second);
    await first.client.listTools();
    await second.client.listTools();
    await first.client.listTools(); // now `second` is the least recently used
    const third = await connectAgent(token, { era: "legacy" });
    open.push(third);
    await expect(second.client.listTools()).rejects.toThrow(/404|Session not found/i);
    await expect(first.client.listTools()).resolves.toBeTruthy();
    await expect(third.client.listTools()).resolves.toBeTruthy();
  });
});
