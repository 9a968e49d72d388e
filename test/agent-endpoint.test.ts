// The agent endpoint (/api/mcp) end to end: SDK v2 clients of both protocol eras against the real route
// handler (in process), backed by real fixture servers and a real database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProtocolError } from "@modelcontextprotocol/client";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { storedTool } from "@/lib/data/catalog";
import { getDb } from "@/lib/db";
import { historySettled } from "@/lib/data/history";
import { publicUserId } from "@/lib/data/users";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import {
  addIntegration,
  connectAgent,
  ENDPOINT,
  inProcessFetch,
  makeUserWithToken,
  textOf,
  type AgentClient,
} from "./agent-helpers";
import { waitFor } from "./wait";

let alpha: McpFixture;
let beta: McpFixture;
let a: { userId: string; token: string; alphaId: string; betaId: string };
let b: { userId: string; token: string; alphaId: string };
const clients: AgentClient[] = [];
const track = (c: AgentClient) => (clients.push(c), c);
const ownServers: McpFixture[] = [];

beforeAll(async () => {
  alpha = await startMcpServer({ name: "alpha", instructions: "Alpha: use echo to echo." });
  beta = await startMcpServer({ mode: "sessionful", name: "beta", instructions: "Beta: add adds numbers." });
  const ua = await makeUserWithToken("a");
  a = {
    userId: ua.user.id,
    token: ua.token,
    alphaId: await addIntegration(ua.user.id, "Alpha", alpha.url),
    betaId: await addIntegration(ua.user.id, "Beta Server", beta.url),
  };
  const ub = await makeUserWithToken("b");
  b = { userId: ub.user.id, token: ub.token, alphaId: await addIntegration(ub.user.id, "Other", alpha.url) };
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await closeAgentEndpoint();
  await closeAll();
  await Promise.all([alpha, beta, ...ownServers].map((s) => s?.close()));
});

describe("authentication", () => {
  it("answers 401 with a Bearer challenge without a valid token", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} });
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    const none = await inProcessFetch(ENDPOINT, { method: "POST", body, headers });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer realm="poke"/);
    const bad = await inProcessFetch(ENDPOINT, {
      method: "POST",
      body,
      headers: { ...headers, authorization: "Bearer poke_nope" },
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  it("refuses a cross-origin browser request", async () => {
    const res = await inProcessFetch(ENDPOINT, {
      method: "POST",
      body: "{}",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${a.token}`,
        origin: "https://evil.example",
      },
    });
    expect(res.status).toBe(403);
  });
});

describe.each(["auto", "legacy"] as const)("an SDK client (%s negotiation)", (era) => {
  it("lists namespaced tools of both integrations with schemas passed through and merged instructions", async () => {
    const agent = track(await connectAgent(a.token, { era }));
    expect(agent.client.getProtocolEra()).toBe(era === "auto" ? "modern" : "legacy");
    const { tools } = await agent.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(["alpha__echo", "alpha__add", "beta_server__echo", "beta_server__whoami"]),
    );
    expect(names.every((n) => /^[A-Za-z0-9_.-]{1,128}$/.test(n))).toBe(true);
    const db = await getDb();
    const stored = storedTool(
      await db.tool.findFirstOrThrow({ where: { integrationId: a.alphaId, name: "add" } }),
    );
    const add = tools.find((t) => t.name === "alpha__add")!;
    expect(add.inputSchema).toEqual(stored.inputSchema);
    expect(add.outputSchema).toEqual(stored.outputSchema);
    expect(add.description).toBe(stored.description);
    const instructions = agent.client.getInstructions() ?? "";
    expect(instructions).toContain("## Alpha");
    expect(instructions).toContain("Alpha: use echo to echo.");
    expect(instructions).toContain("## Beta Server");
    expect(instructions).toContain("Beta: add adds numbers.");
  });

  it("calls tools of both integrations through the owner's pooled sessions and records them", async () => {
    const agent = track(await connectAgent(a.token, { era }));
    const echoed = await agent.client.callTool({ name: "alpha__echo", arguments: { text: `hi ${era}` } });
    expect(textOf(echoed)).toBe(`hi ${era}`);
    const sum = await agent.client.callTool({ name: "beta_server__add", arguments: { a: 2, b: 3 } });
    expect(sum.structuredContent).toEqual({ sum: 5 });
    const who = await agent.client.callTool({ name: "beta_server__whoami", arguments: {} });
    expect(JSON.parse(textOf(who)).userId).toBe(await publicUserId(a.userId));
    const failed = await agent.client.callTool({ name: "alpha__fail", arguments: {} });
    expect(failed.isError).toBe(true);
    await historySettled();
    const db = await getDb();
    const rows = await db.toolCall.findMany({ where: { userId: a.userId, source: "agent" } });
    expect(rows.some((r) => r.integrationId === a.alphaId && r.tool === "echo" && r.status === "ok")).toBe(
      true,
    );
    expect(rows.some((r) => r.integrationId === a.betaId && r.tool === "add" && r.status === "ok")).toBe(
      true,
    );
    expect(rows.some((r) => r.tool === "fail" && r.status === "tool_error")).toBe(true);
  });

  it("answers invalid arguments with an error result and unknown tools with a protocol error", async () => {
    const agent = track(await connectAgent(a.token, { era }));
    const bad = await agent.client.callTool({ name: "alpha__add", arguments: { a: "x" } });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toMatch(/Invalid arguments/);
    await expect(agent.client.callTool({ name: "nope__echo", arguments: {} })).rejects.toBeInstanceOf(
      ProtocolError,
    );
  });

  it("receives tools/list_changed after a fixture adds a tool", async () => {
    // A user and a server of its own: the tool added here shows up in no other test.
    const fixture = await startMcpServer(era === "auto" ? {} : { mode: "sessionful" });
    ownServers.push(fixture);
    const owner = await makeUserWithToken(`push-${era}`);
    await addIntegration(owner.user.id, "Pushy", fixture.url);
    const seen: string[][] = [];
    const agent = track(
      await connectAgent(owner.token, { era, onToolsChanged: (t) => seen.push(t.map((x) => x.name)) }),
    );
    // Opens the pooled session to the fixture, which is where the fixture's own list_changed arrives.
    await agent.client.callTool({ name: "pushy__echo", arguments: { text: "open" } });
    const added = `pushed_${era}`;
    fixture.addTool(added);
    const expected = `pushy__${added}`;
    // list_changed reaches only streams already open (the pooled session's, the agent's): the change is
    // announced again until the agent has seen it.
    let announced = 0;
    await waitFor(
      () => {
        if (seen.flat().includes(expected)) return true;
        fixture.setDescription(added, `announced ${++announced}`);
        return false;
      },
      { intervalMs: 1000, what: `${expected} announced to the agent` },
    );
    const called = await agent.client.callTool({ name: expected, arguments: {} });
    expect(textOf(called)).toBe(added);
  });
});

describe("tenancy", () => {
  it("a token of user B never sees or calls user A's tools", async () => {
    for (const era of ["auto", "legacy"] as const) {
      const agent = track(await connectAgent(b.token, { era }));
      const { tools } = await agent.client.listTools();
      const names = tools.map((t) => t.name);
      expect(names.length).toBeGreaterThan(0);
      expect(names.every((n) => n.startsWith("other__"))).toBe(true);
      expect(agent.client.getInstructions() ?? "").not.toContain("Beta");
      await expect(
        agent.client.callTool({ name: "beta_server__echo", arguments: { text: "x" } }),
      ).rejects.toThrow(/Unknown tool/);
      const who = await agent.client.callTool({ name: "other__whoami", arguments: {} });
      expect(JSON.parse(textOf(who)).userId).toBe(await publicUserId(b.userId));
    }
  });

  it("a legacy session id opened by A is not found for B's token", async () => {
    const agentA = track(await connectAgent(a.token, { era: "legacy" }));
    const sessionId = agentA.transport.sessionId!;
    expect(sessionId).toBeTruthy();
    const res = await inProcessFetch(ENDPOINT, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${b.token}`,
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list", params: {} }),
    });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain("alpha__");
  });
});

describe("integrations that need the person", () => {
  it.each([
    ["needs_reauth", /needs to be reconnected/],
    ["offline", /offline/],
  ])("%s: tools stay listed and answer with an error result naming the fix", async (status, message) => {
    const { user, token } = await makeUserWithToken("blocked");
    const id = await addIntegration(user.id, `Blocked ${status}`, alpha.url);
    const db = await getDb();
    await db.integration.update({ where: { id }, data: { status } });
    const agent = track(await connectAgent(token, { era: "auto" }));
    const slug = `blocked_${status}`;
    const { tools } = await agent.client.listTools();
    expect(tools.map((t) => t.name)).toContain(`${slug}__echo`);
    const requestsBefore = alpha.requests.length;
    const result = await agent.client.callTool({ name: `${slug}__echo`, arguments: { text: "x" } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(message);
    expect(textOf(result)).toContain(`Blocked ${status}`);
    expect(textOf(result)).toContain(`http://localhost:3999/integrations/${id}`);
    expect(alpha.requests.length).toBe(requestsBefore);
  });
});
