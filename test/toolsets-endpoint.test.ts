// Toolsets and tool search end to end: SDK v2 clients of both protocol eras against the real route handlers
// (/api/mcp and /api/mcp/<toolset>, in process), backed by real fixture servers and a real database. Scoped
// tokens, read-only toolsets, list_changed per toolset, search mode and tenancy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Client,
  ProtocolError,
  StreamableHTTPClientTransport,
  type Tool,
} from "@modelcontextprotocol/client";
import { closeAgentEndpoint, handleAgentRequest, handleToolsetRequest } from "@/lib/agent/endpoint";
import { listActivity } from "@/lib/agent/activity";
import { GET as listIntegrationsRoute } from "@/app/api/v1/integrations/route";
import { createApiToken } from "@/lib/data/api-tokens";
import { historySettled } from "@/lib/data/history";
import {
  createToolset,
  deleteToolset,
  getTokenScope,
  getToolset,
  getToolsetByName,
  listTokenScopes,
  listToolChoices,
  listToolsets,
  listToolsetTools,
  setTokenScope,
  updateToolset,
} from "@/lib/data/toolsets";
import { revokeApiToken } from "@/lib/data/api-tokens";
import type { SessionUser } from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { setToolEnabled } from "@/lib/data/integrations";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import {
  startCatalogServer,
  startMcpServer,
  type CatalogFixture,
  type McpFixture,
} from "./fixtures/mcp-servers";
import { addIntegration, makeUserWithToken, textOf } from "./agent-helpers";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

const ORIGIN = "http://localhost:3999";

/** Routes like Next.js would: /api/mcp to the whole endpoint, /api/mcp/<name> to the toolset route. */
const inProcessFetch = (input: string | URL | Request, init?: RequestInit) => {
  const req = new Request(input, init);
  const m = new URL(req.url).pathname.match(/^\/api\/mcp\/([^/]+)$/);
  if (!m) return handleAgentRequest(req);
  return handleToolsetRequest(req, { params: Promise.resolve({ toolset: decodeURIComponent(m[1]) }) });
};

type Agent = { client: Client; transport: StreamableHTTPClientTransport; close(): Promise<void> };
const agents: Agent[] = [];

async function connect(
  token: string,
  path: string,
  opts: { era?: "auto" | "legacy"; onToolsChanged?: (tools: Tool[]) => void } = {},
): Promise<Agent> {
  const era = opts.era ?? "auto";
  const client = new Client(
    { name: "toolset-agent", version: "1.0.0" },
    {
      ...(era === "auto" ? { versionNegotiation: { mode: "auto" as const } } : {}),
      ...(opts.onToolsChanged
        ? {
            listChanged: {
              tools: {
                debounceMs: 20,
                onChanged: (_err: Error | null, tools: Tool[] | null) => opts.onToolsChanged!(tools ?? []),
              },
            },
          }
        : {}),
    },
  );
  const transport = new StreamableHTTPClientTransport(new URL(path, ORIGIN), {
    fetch: inProcessFetch,
    authProvider: { token: async () => token },
  });
  await client.connect(transport);
  const agent = {
    client,
    transport,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
  agents.push(agent);
  return agent;
}

/** A raw initialize, to read the HTTP refusal an SDK client would turn into an exception. */
async function initialize(token: string, path: string): Promise<Response> {
  return inProcessFetch(new URL(path, ORIGIN), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    }),
  });
}

const names = async (agent: Agent) => (await agent.client.listTools()).tools.map((t) => t.name).sort();

const OPS_TOOLS: Tool[] = [
  {
    name: "read_logs",
    description: "Read the latest log lines of a service.",
    inputSchema: { type: "object", properties: { service: { type: "string" } } },
    annotations: { readOnlyHint: true },
  },
  {
    name: "delete_logs",
    description: "Delete every log line of a service.",
    inputSchema: { type: "object", properties: { service: { type: "string" } } },
    annotations: { destructiveHint: true },
  },
  {
    name: "purge_cache",
    description: "Purge the cache (claims read-only but is destructive).",
    inputSchema: { type: "object" },
    annotations: { readOnlyHint: true, destructiveHint: true },
  },
  {
    name: "restart_service",
    description: "Restart a service.",
    inputSchema: { type: "object", properties: { service: { type: "string" } } },
  },
];

let alpha: McpFixture;
let ops: CatalogFixture;
let owner: { user: SessionUser; token: string; alphaId: string; opsId: string };
let other: { user: SessionUser; token: string; alphaId: string };

beforeAll(async () => {
  alpha = await startMcpServer({ name: "alpha", instructions: "Alpha: use echo to echo." });
  ops = await startCatalogServer({ name: "ops", instructions: "Ops: logs and services of the fleet." });
  ops.setTools(OPS_TOOLS);
  const u = await makeUserWithToken("toolsets");
  owner = {
    ...u,
    alphaId: await addIntegration(u.user.id, "Alpha", alpha.url),
    opsId: await addIntegration(u.user.id, "Ops", ops.url),
  };
  const o = await makeUserWithToken("toolsets-other");
  other = { ...o, alphaId: await addIntegration(o.user.id, "Alpha", alpha.url) };
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await closeAgentEndpoint();
  await closeAll();
  await Promise.all([alpha?.close(), ops?.close()]);
});

async function scopedToken(user: SessionUser, toolsetIds: string[], searchMode = false) {
  const created = await createApiToken(user, {
    name: `scoped ${toolsetIds.length}`,
    expiresInDays: undefined,
  });
  await setTokenScope(user, created.id, { toolsetIds, searchMode });
  return created;
}

describe("toolset endpoints", () => {
  it("serve the toolset's tools with its own instructions, and record the toolset and token of each call", async () => {
    const ts = await createToolset(owner.user, {
      name: "echo-and-logs",
      description: "For the support agent.",
      items: [
        { integrationId: owner.alphaId, toolName: "echo" },
        { integrationId: owner.opsId, toolName: "read_logs" },
      ],
    });
    const token = await scopedToken(owner.user, [ts.id]);
    for (const era of ["auto", "legacy"] as const) {
      const agent = await connect(token.token, "/api/mcp/echo-and-logs", { era });
      expect(await names(agent)).toEqual(["alpha__echo", "ops__read_logs"]);
      const instructions = agent.client.getInstructions() ?? "";
      expect(instructions).toContain("For the support agent.");
      expect(instructions).toContain("Alpha: use echo to echo.");
      expect(instructions).toContain("Ops: logs and services of the fleet.");
      const echoed = await agent.client.callTool({ name: "alpha__echo", arguments: { text: `via ${era}` } });
      expect(textOf(echoed)).toBe(`via ${era}`);
    }
    await historySettled();
    const { calls } = await listActivity(owner.user, { toolsetId: ts.id });
    expect(calls.map((c) => c.tool)).toEqual(["echo", "echo"]);
    expect(calls.every((c) => c.apiTokenId === token.id && c.toolsetName === "echo-and-logs")).toBe(true);
    expect((await listActivity(owner.user, { apiTokenId: token.id })).calls).toHaveLength(2);
  });

  it("a scoped token reaches only its toolsets: /api/mcp and other toolsets refuse it, nothing else is callable", async () => {
    const mine = await createToolset(owner.user, {
      name: "only-echo",
      items: [{ integrationId: owner.alphaId, toolName: "echo" }],
    });
    await createToolset(owner.user, { name: "everything-ops", items: [{ integrationId: owner.opsId }] });
    const token = await scopedToken(owner.user, [mine.id]);

    const whole = await initialize(token.token, "/api/mcp");
    expect(whole.status).toBe(403);
    expect((await whole.json()).error.code).toBe("token_scoped");
    const otherToolset = await initialize(token.token, "/api/mcp/everything-ops");
    expect(otherToolset.status).toBe(403);
    expect((await initialize(token.token, "/api/mcp/no-such-toolset")).status).toBe(404);

    // Nor the HTTP API, which would reach every tool of the owner.
    const api = (t: string) =>
      listIntegrationsRoute(
        new Request(`${ORIGIN}/api/v1/integrations`, { headers: { authorization: `Bearer ${t}` } }),
        { params: Promise.resolve({}) },
      );
    const refused = await api(token.token);
    expect(refused.status).toBe(403);
    expect((await refused.json()).error.code).toBe("token_scoped");
    expect((await api(owner.token)).status).toBe(200);

    const before = [ops.calls.length, alpha.calls.length];
    for (const era of ["auto", "legacy"] as const) {
      const agent = await connect(token.token, "/api/mcp/only-echo", { era });
      expect(await names(agent)).toEqual(["alpha__echo"]);
      for (const guess of ["alpha__add", "ops__read_logs", "ops__delete_logs", "echo"]) {
        await expect(agent.client.callTool({ name: guess, arguments: {} })).rejects.toBeInstanceOf(
          ProtocolError,
        );
      }
    }
    expect([ops.calls.length, alpha.calls.length]).toEqual(before);
  });

  it("an unscoped token reaches /api/mcp and every toolset of its owner", async () => {
    await createToolset(owner.user, { name: "ops-all", items: [{ integrationId: owner.opsId }] });
    const whole = await connect(owner.token, "/api/mcp");
    expect(await names(whole)).toEqual(expect.arrayContaining(["alpha__echo", "ops__delete_logs"]));
    const toolset = await connect(owner.token, "/api/mcp/ops-all");
    expect(await names(toolset)).toEqual([
      "ops__delete_logs",
      "ops__purge_cache",
      "ops__read_logs",
      "ops__restart_service",
    ]);
  });

  it("a read-only toolset never lists nor runs a tool that is not read-only, checked again at call time", async () => {
    await createToolset(owner.user, {
      name: "ops-read-only",
      readOnly: true,
      items: [{ integrationId: owner.opsId }],
    });
    const db = await getDb();
    const agent = await connect(owner.token, "/api/mcp/ops-read-only");
    expect(await names(agent)).toEqual(["ops__read_logs"]);
    expect(agent.client.getInstructions()).toContain("read-only");
    const before = ops.calls.length;
    for (const name of ["ops__delete_logs", "ops__purge_cache", "ops__restart_service"]) {
      await expect(agent.client.callTool({ name, arguments: {} })).rejects.toBeInstanceOf(ProtocolError);
    }
    const ok = await agent.client.callTool({ name: "ops__read_logs", arguments: { service: "api" } });
    expect(textOf(ok)).toBe("read_logs");
    expect(ops.calls.length).toBe(before + 1);

    // The stored definition now says destructive, with no event: the listed catalog may still hold the old
    // one, the call is refused anyway.
    await db.tool.update({
      where: { integrationId_name: { integrationId: owner.opsId, name: "read_logs" } },
      data: { annotations: JSON.stringify({ readOnlyHint: true, destructiveHint: true }) },
    });
    try {
      const refused = await agent.client
        .callTool({ name: "ops__read_logs", arguments: { service: "api" } })
        .catch((err: unknown) => err);
      if (refused instanceof ProtocolError) expect(refused.message).toMatch(/Unknown tool/);
      else expect((refused as { isError?: boolean }).isError).toBe(true);
      expect(ops.calls.length).toBe(before + 1);
      const listed = await listToolsetTools(
        owner.user,
        (await getToolsetByName(owner.user, "ops-read-only")).id,
      );
      expect(listed.integrations.flatMap((i) => i.tools)).toEqual([]);
    } finally {
      await db.tool.update({
        where: { integrationId_name: { integrationId: owner.opsId, name: "read_logs" } },
        data: { annotations: JSON.stringify({ readOnlyHint: true }) },
      });
    }
  });
});

describe("list_changed per toolset", () => {
  it.each(["auto", "legacy"] as const)(
    "reaches a toolset's sessions when a chosen integration's tools change, and when the toolset is edited (%s)",
    async (era) => {
      const fixture = await startCatalogServer({ name: `dyn-${era}` });
      try {
        fixture.setTools([OPS_TOOLS[0]]);
        const u = await makeUserWithToken(`dyn-${era}`);
        const dynId = await addIntegration(u.user.id, "Dyn", fixture.url);
        const alphaId = await addIntegration(u.user.id, "Alpha", alpha.url);
        const ts = await createToolset(u.user, { name: "dyn", items: [{ integrationId: dynId }] });
        const seen: string[][] = [];
        const agent = await connect(u.token, "/api/mcp/dyn", {
          era,
          onToolsChanged: (tools) => seen.push(tools.map((t) => t.name).sort()),
        });
        expect(await names(agent)).toEqual(["dyn__read_logs"]);

        fixture.setTools([OPS_TOOLS[0], OPS_TOOLS[3]]);
        await syncIntegration(u.user.id, dynId);
        await waitFor(() => seen.some((s) => s.includes("dyn__restart_service")), {
          what: "list_changed after a re-sync added a tool",
        });

        await setToolEnabled(u.user, dynId, "restart_service", false);
        await waitFor(() => seen.at(-1)?.join() === "dyn__read_logs", {
          what: "list_changed after a tool was switched off",
        });
        await setToolEnabled(u.user, dynId, "restart_service", true);

        await updateToolset(u.user, ts.id, {
          items: [{ integrationId: dynId }, { integrationId: alphaId, toolName: "echo" }],
        });
        await waitFor(() => seen.some((s) => s.includes("alpha__echo")), {
          what: "list_changed after the toolset was edited",
        });
        expect(await names(agent)).toEqual(["alpha__echo", "dyn__read_logs", "dyn__restart_service"]);
      } finally {
        await fixture.close();
      }
    },
  );
});

describe("search mode", () => {
  it("a search-mode toolset shows three tools; search, describe and call reach only its own tools", async () => {
    const ts = await createToolset(owner.user, {
      name: "ops-search",
      searchMode: true,
      items: [{ integrationId: owner.opsId }, { integrationId: owner.alphaId, toolName: "echo" }],
    });
    const token = await scopedToken(owner.user, [ts.id]);
    for (const era of ["auto", "legacy"] as const) {
      const agent = await connect(token.token, "/api/mcp/ops-search", { era });
      expect(await names(agent)).toEqual(["call_tool", "describe_tool", "search_tools"]);
      expect(agent.client.getInstructions()).toContain("search_tools");

      const found = await agent.client.callTool({
        name: "search_tools",
        arguments: { query: "show me the recent logs of the api service" },
      });
      const results = (found.structuredContent as { results: { name: string; integration: string }[] })
        .results;
      expect(results[0]).toMatchObject({ name: "ops__read_logs", integration: "Ops" });
      expect(results.map((r) => r.name)).not.toContain("alpha__add");

      const described = await agent.client.callTool({
        name: "describe_tool",
        arguments: { name: "ops__read_logs" },
      });
      expect((described.structuredContent as { tool: Tool }).tool.inputSchema).toEqual(
        OPS_TOOLS[0].inputSchema,
      );

      const called = await agent.client.callTool({
        name: "call_tool",
        arguments: { name: "alpha__echo", arguments: { text: `search ${era}` } },
      });
      expect(textOf(called)).toBe(`search ${era}`);

      // Guessing names of tools outside the toolset fails, whatever the path.
      const before = alpha.calls.length;
      for (const guess of ["alpha__add", "alpha__whoami", "add"]) {
        const described = await agent.client.callTool({ name: "describe_tool", arguments: { name: guess } });
        expect(described.isError).toBe(true);
        const call = await agent.client.callTool({
          name: "call_tool",
          arguments: { name: guess, arguments: { a: 1, b: 2 } },
        });
        expect(call.isError).toBe(true);
        expect(textOf(call)).toMatch(/search_tools/);
      }
      await expect(
        agent.client.callTool({ name: "alpha__echo", arguments: { text: "x" } }),
      ).rejects.toBeInstanceOf(ProtocolError);
      expect(alpha.calls.length).toBe(before);
    }
  });

  it("a read-only toolset in search mode neither finds nor runs a destructive tool", async () => {
    await createToolset(owner.user, {
      name: "ops-ro-search",
      readOnly: true,
      searchMode: true,
      items: [{ integrationId: owner.opsId }],
    });
    const agent = await connect(owner.token, "/api/mcp/ops-ro-search");
    const found = await agent.client.callTool({
      name: "search_tools",
      arguments: { query: "delete the logs and purge the cache", limit: 20 },
    });
    const results = (found.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    expect(results).toEqual(["ops__read_logs"]);
    const before = ops.calls.length;
    for (const name of ["ops__delete_logs", "ops__purge_cache", "ops__restart_service"]) {
      const call = await agent.client.callTool({ name: "call_tool", arguments: { name, arguments: {} } });
      expect(call.isError).toBe(true);
    }
    expect(ops.calls.length).toBe(before);
  });

  it("a token in search mode gets /api/mcp in search mode, with the same validation and history as a direct call", async () => {
    const token = await scopedToken(owner.user, [], true);
    const agent = await connect(token.token, "/api/mcp");
    expect(await names(agent)).toEqual(["call_tool", "describe_tool", "search_tools"]);
    const direct = await connect(owner.token, "/api/mcp");
    const badDirect = await direct.client.callTool({ name: "alpha__add", arguments: { a: "x" } });
    const badSearch = await agent.client.callTool({
      name: "call_tool",
      arguments: { name: "alpha__add", arguments: { a: "x" } },
    });
    expect(badSearch.isError).toBe(true);
    expect(textOf(badSearch)).toBe(textOf(badDirect));
    const sum = await agent.client.callTool({
      name: "call_tool",
      arguments: { name: "alpha__add", arguments: { a: 2, b: 5 } },
    });
    expect(sum.structuredContent).toEqual({ sum: 7 });
    await historySettled();
    const { calls } = await listActivity(owner.user, { apiTokenId: token.id });
    expect(calls.map((c) => [c.tool, c.status, c.toolsetId])).toEqual([["add", "ok", null]]);
  });

  it("search results follow a re-sync", async () => {
    const fixture = await startCatalogServer({ name: "vault" });
    try {
      fixture.setTools([OPS_TOOLS[0]]);
      const u = await makeUserWithToken("resync-search");
      const id = await addIntegration(u.user.id, "Vault", fixture.url);
      await createToolset(u.user, { name: "vault", searchMode: true, items: [{ integrationId: id }] });
      const agent = await connect(u.token, "/api/mcp/vault");
      const search = async () => {
        const r = await agent.client.callTool({
          name: "search_tools",
          arguments: { query: "rotate the database credentials" },
        });
        return (r.structuredContent as { results: { name: string }[] }).results.map((x) => x.name);
      };
      expect(await search()).not.toContain("vault__rotate_secret");
      fixture.setTools([
        OPS_TOOLS[0],
        {
          name: "rotate_secret",
          description: "Rotate a stored secret such as database credentials and return its new version.",
          inputSchema: { type: "object", properties: { path: { type: "string" } } },
        },
      ]);
      await syncIntegration(u.user.id, id);
      await waitFor(async () => (await search())[0] === "vault__rotate_secret", {
        what: "the new tool found after the re-sync",
      });
      fixture.setTools([OPS_TOOLS[0]]);
      await syncIntegration(u.user.id, id);
      await waitFor(async () => !(await search()).includes("vault__rotate_secret"), {
        what: "the removed tool gone from search after the re-sync",
      });
      const gone = await agent.client.callTool({
        name: "call_tool",
        arguments: { name: "vault__rotate_secret" },
      });
      expect(gone.isError).toBe(true);
    } finally {
      await fixture.close();
    }
  });
});

describe("tenancy and lifecycle", () => {
  it("another user's toolset ids and names are not found, and tokens only take their owner's toolsets", async () => {
    const mine = await createToolset(owner.user, {
      name: "private-ops",
      items: [{ integrationId: owner.opsId }],
    });
    // The other user's unscoped token: the owner's toolset name is not found for it.
    expect((await initialize(other.token, "/api/mcp/private-ops")).status).toBe(404);
    await expectAppError(getToolset(other.user, mine.id), "not_found");
    await expectAppError(updateToolset(other.user, mine.id, { name: "stolen" }), "not_found");
    await expectAppError(deleteToolset(other.user, mine.id), "not_found");
    await expectAppError(
      createToolset(other.user, { name: "sneaky", items: [{ integrationId: owner.opsId }] }),
      "not_found",
    );
    const theirToken = await createApiToken(other.user, { name: "t", expiresInDays: undefined });
    await expectAppError(setTokenScope(other.user, theirToken.id, { toolsetIds: [mine.id] }), "not_found");
    const ownerToken = await createApiToken(owner.user, { name: "t", expiresInDays: undefined });
    await expectAppError(setTokenScope(other.user, ownerToken.id, { toolsetIds: [] }), "not_found");

    // The same name is the other user's own toolset, with only their tools.
    await createToolset(other.user, {
      name: "private-ops",
      items: [{ integrationId: other.alphaId, toolName: "echo" }],
    });
    const agent = await connect(other.token, "/api/mcp/private-ops");
    expect(await names(agent)).toEqual(["alpha__echo"]);
    expect((await getToolset(owner.user, mine.id)).name).toBe("private-ops");
  });

  it("renaming moves the endpoint, deleting removes it, names are unique per user", async () => {
    const ts = await createToolset(owner.user, { name: "before", items: [{ integrationId: owner.alphaId }] });
    await expectAppError(createToolset(owner.user, { name: "before" }), "name_taken");
    await expect(createToolset(owner.user, { name: "has space" })).rejects.toThrow(/letters, digits/);
    expect((await initialize(owner.token, "/api/mcp/before")).status).toBe(200);
    await updateToolset(owner.user, ts.id, { name: "after" });
    await waitFor(async () => (await initialize(owner.token, "/api/mcp/before")).status === 404, {
      what: "the old name gone",
    });
    expect((await initialize(owner.token, "/api/mcp/after")).status).toBe(200);
    await deleteToolset(owner.user, ts.id);
    await waitFor(async () => (await initialize(owner.token, "/api/mcp/after")).status === 404, {
      what: "the deleted toolset gone",
    });
  });
});

describe("toolset data", () => {
  it("stores a clean selection, replaces it on edit, and resolves what the toolset exposes", async () => {
    const u = await makeUserWithToken("toolset-data");
    const opsId = await addIntegration(u.user.id, "Ops", ops.url);
    await expectAppError(
      createToolset(u.user, { name: "typo", items: [{ integrationId: opsId, toolName: "read_log" }] }),
      "tool_not_found",
    );
    const ts = await createToolset(u.user, {
      name: "ops",
      description: "  Logs only.  ",
      items: [
        { integrationId: opsId, toolName: "read_logs" },
        { integrationId: opsId, toolName: "read_logs" },
        { integrationId: opsId, toolName: "" },
      ],
    });
    // "Every tool" covers the single tool: one item is kept.
    expect(ts.items).toEqual([{ integrationId: opsId, integrationName: "Ops", toolName: "" }]);
    expect(ts.description).toBe("Logs only.");
    const all = await listToolsetTools(u.user, ts.id);
    expect(all.integrations.flatMap((i) => i.tools.map((t) => t.name)).sort()).toEqual([
      "delete_logs",
      "purge_cache",
      "read_logs",
      "restart_service",
    ]);
    const edited = await updateToolset(u.user, ts.id, {
      readOnly: true,
      items: [
        { integrationId: opsId, toolName: "read_logs" },
        { integrationId: opsId, toolName: "delete_logs" },
      ],
    });
    expect(edited.items.map((i) => i.toolName)).toEqual(["delete_logs", "read_logs"]);
    const readOnly = await listToolsetTools(u.user, ts.id);
    expect(readOnly.integrations.flatMap((i) => i.tools.map((t) => t.name))).toEqual(["read_logs"]);
    expect((await listToolsets(u.user)).map((t) => [t.name, t.itemCount, t.readOnly])).toEqual([
      ["ops", 2, true],
    ]);

    const choices = await listToolChoices(u.user);
    expect(choices[0].tools.map((t) => [t.name, t.readOnly])).toEqual([
      ["delete_logs", false],
      ["purge_cache", false],
      ["read_logs", true],
      ["restart_service", false],
    ]);
  });

  it("shows each token's scope, and a revoked token takes none", async () => {
    const u = await makeUserWithToken("token-scope");
    const ts = await createToolset(u.user, { name: "a" });
    const token = await createApiToken(u.user, { name: "agent", expiresInDays: undefined });
    expect(await getTokenScope(u.user, token.id)).toEqual({
      tokenId: token.id,
      searchMode: false,
      toolsets: [],
    });
    await setTokenScope(u.user, token.id, { toolsetIds: [ts.id, ts.id], searchMode: true });
    expect(await getTokenScope(u.user, token.id)).toEqual({
      tokenId: token.id,
      searchMode: true,
      toolsets: [{ id: ts.id, name: "a" }],
    });
    expect((await getToolset(u.user, ts.id)).tokens).toEqual([
      { id: token.id, name: "agent", prefix: token.prefix },
    ]);
    const scopes = await listTokenScopes(u.user);
    expect(scopes.find((s) => s.tokenId === token.id)?.toolsets).toEqual([{ id: ts.id, name: "a" }]);
    await revokeApiToken(u.user, token.id);
    await expectAppError(setTokenScope(u.user, token.id, { toolsetIds: [] }), "not_found");
    expect((await getToolset(u.user, ts.id)).tokens).toEqual([]);
  });
});
