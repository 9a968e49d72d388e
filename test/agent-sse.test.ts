// The agent endpoint over the HTTP+SSE transport (protocol 2024-11-05): an SDK v1 `SSEClientTransport` client
// against the real route handlers (in process, routed like Next.js), backed by real fixture servers and a real
// database. Tools, calls, list_changed on the stream, toolsets, scoped tokens and tenancy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { GET as sseRoute } from "@/app/api/mcp/sse/route";
import { POST as messagesRoute } from "@/app/api/mcp/sse/messages/route";
import { GET as toolsetSseRoute } from "@/app/api/mcp/[toolset]/sse/route";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { closeSseSessions, sseSessionCount } from "@/lib/agent/sse";
import { createApiToken } from "@/lib/data/api-tokens";
import { createToolset } from "@/lib/data/toolsets";
import { publicUserId } from "@/lib/data/users";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { toolsetNameSchema } from "@/lib/schemas/toolsets";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, makeUserWithToken, textOf } from "./agent-helpers";
import { waitFor } from "./wait";

const ORIGIN = "http://localhost:3999";

/** Routes like Next.js would: the stream routes and the message route. */
const inProcessFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const req = new Request(input, init);
  const path = new URL(req.url).pathname;
  if (path === "/api/mcp/sse") return sseRoute(req);
  if (path === "/api/mcp/sse/messages") return messagesRoute(req);
  const m = path.match(/^\/api\/mcp\/([^/]+)\/sse$/);
  if (m) return toolsetSseRoute(req, { params: Promise.resolve({ toolset: decodeURIComponent(m[1]) }) });
  return new Response("not found", { status: 404 });
};

type V1Agent = { client: Client; transport: SSEClientTransport };
const agents: V1Agent[] = [];

async function connectV1(token: string, path = "/api/mcp/sse"): Promise<V1Agent> {
  const client = new Client({ name: "v1-sse-agent", version: "1.0.0" });
  const transport = new SSEClientTransport(new URL(path, ORIGIN), {
    fetch: inProcessFetch,
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const agent = { client, transport };
  agents.push(agent);
  return agent;
}

/** The raw protocol: open a stream and read its `endpoint` event. */
async function openRaw(token: string): Promise<{ endpoint: string; res: Response }> {
  const res = await inProcessFetch(`${ORIGIN}/api/mcp/sse`, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const m = new TextDecoder().decode(value).match(/^event: endpoint\ndata: (.+)\n\n/);
  expect(m).not.toBeNull();
  return { endpoint: m![1], res };
}

const post = (endpoint: string, token: string, body: unknown, headers: Record<string, string> = {}) =>
  inProcessFetch(new URL(endpoint, ORIGIN), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

let alpha: McpFixture;
let a: { userId: string; token: string; alphaId: string };
let b: { userId: string; token: string };

beforeAll(async () => {
  alpha = await startMcpServer({ name: "alpha", instructions: "Alpha: use echo to echo." });
  const ua = await makeUserWithToken("sse-a");
  a = { userId: ua.user.id, token: ua.token, alphaId: await addIntegration(ua.user.id, "Alpha", alpha.url) };
  const ub = await makeUserWithToken("sse-b");
  await addIntegration(ub.user.id, "Other", alpha.url);
  b = { userId: ub.user.id, token: ub.token };
});

afterAll(async () => {
  await Promise.all(agents.map((x) => x.client.close().catch(() => {})));
  await closeSseSessions();
  await closeAgentEndpoint();
  await closeAll();
  await alpha?.close();
});

describe("an SDK v1 SSEClientTransport client", () => {
  it("lists the caller's tools with instructions and calls them", async () => {
    const { client } = await connectV1(a.token);
    expect(client.getServerVersion()?.name).toBe("poke");
    expect(client.getInstructions()).toContain("Alpha: use echo to echo.");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("alpha__echo");
    const echoed = await client.callTool({ name: "alpha__echo", arguments: { text: "over sse" } });
    expect(textOf(echoed)).toBe("over sse");
    const who = await client.callTool({ name: "alpha__whoami", arguments: {} });
    expect(JSON.parse(textOf(who)).userId).toBe(await publicUserId(a.userId));
    await expect(client.callTool({ name: "nope__echo", arguments: {} })).rejects.toThrow(/Unknown tool/);
  });

  it("receives notifications/tools/list_changed on its stream after a sync changes the catalog", async () => {
    const fixture = await startMcpServer({});
    try {
      const owner = await makeUserWithToken("sse-push");
      const id = await addIntegration(owner.user.id, "Pushy", fixture.url);
      const { client } = await connectV1(owner.token);
      let changed = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void changed++);
      fixture.addTool("pushed_sse");
      await syncIntegration(owner.user.id, id);
      await waitFor(() => changed > 0, { what: "list_changed on the SSE stream" });
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("pushy__pushed_sse");
    } finally {
      await fixture.close();
    }
  });

  it("a toolset's stream serves the toolset; a token scoped to it cannot open the whole endpoint", async () => {
    const { user, token } = await makeUserWithToken("sse-toolset");
    const id = await addIntegration(user.id, "Alpha", alpha.url);
    const set = await createToolset(user, {
      name: "echoes",
      items: [{ integrationId: id, toolName: "echo" }],
    });
    const scoped = await createApiToken(
      user,
      { name: "scoped", expiresInDays: undefined },
      { toolsetIds: [set.id] },
    );
    const { client } = await connectV1(scoped.token, "/api/mcp/echoes/sse");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(["alpha__echo"]);
    const whole = await inProcessFetch(`${ORIGIN}/api/mcp/sse`, {
      headers: { authorization: `Bearer ${scoped.token}` },
    });
    expect(whole.status).toBe(403);
    const unknown = await inProcessFetch(`${ORIGIN}/api/mcp/nope/sse`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(unknown.status).toBe(404);
  });
});

describe("the protocol and its refusals", () => {
  it("answers 401 with a Bearer challenge without a valid token, on both routes", async () => {
    const none = await inProcessFetch(`${ORIGIN}/api/mcp/sse`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer realm="poke"/);
    const { endpoint, res } = await openRaw(a.token);
    const bad = await post(endpoint, "poke_nope", { jsonrpc: "2.0", id: 1, method: "ping" });
    expect(bad.status).toBe(401);
    await res.body!.cancel();
  });

  it("binds a session to its user: B's token gets 404 for A's session and nothing reaches A's stream", async () => {
    const { endpoint, res } = await openRaw(a.token);
    const foreign = await post(endpoint, b.token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(foreign.status).toBe(404);
    expect(await foreign.text()).not.toContain("alpha__");
    const unknown = await post("/api/mcp/sse/messages?sessionId=nope", a.token, {
      jsonrpc: "2.0",
      id: 1,
      method: "ping",
    });
    expect(unknown.status).toBe(404);
    await res.body!.cancel();
  });

  it("answers a POST 202 and the response arrives on the stream; bad bodies get 400/415", async () => {
    const { endpoint, res } = await openRaw(a.token);
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    };
    const accepted = await post(endpoint, a.token, init);
    expect(accepted.status).toBe(202);
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes('"id":1')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/event: message\ndata: \{.*"protocolVersion":"2024-11-05"/);
    expect((await post(endpoint, a.token, "{nope")).status).toBe(400);
    expect((await post(endpoint, a.token, { hello: "world" })).status).toBe(400);
    expect((await post(endpoint, a.token, init, { "content-type": "text/plain" })).status).toBe(415);
    const before = sseSessionCount();
    await reader.cancel();
    // The stream's end ends the session.
    await waitFor(() => sseSessionCount() < before, { what: "the session closed with its stream" });
    expect((await post(endpoint, a.token, { jsonrpc: "2.0", id: 2, method: "ping" })).status).toBe(404);
  });

  it("refuses a cross-origin browser request", async () => {
    const res = await inProcessFetch(`${ORIGIN}/api/mcp/sse`, {
      headers: { authorization: `Bearer ${a.token}`, origin: "https://evil.example" },
    });
    expect(res.status).toBe(403);
  });

  it("reserves the toolset name the transport's path takes", () => {
    expect(toolsetNameSchema.safeParse("sse").success).toBe(false);
    expect(toolsetNameSchema.safeParse("SSE").success).toBe(false);
    expect(toolsetNameSchema.safeParse("sse-tools").success).toBe(true);
  });
});
