// What Poke tells servers who is calling: X-Poke-User-Id is the user's public UUID (never the internal id),
// the same on every server and every path — Streamable HTTP, legacy HTTP+SSE, `poke tunnel` (to both kinds
// of server, the legacy one included) and tool calls made through the agent endpoint. Real app (production
// build), real CLI, real fixture servers recording every request.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDb } from "../lib/db";
import { createApiToken } from "../lib/data/api-tokens";
import { publicUserId, signUp } from "../lib/data/users";
import {
  startMcpServer,
  startSseServer,
  type McpFixture,
  type RecordedRequest,
  type SseFixture,
} from "./fixtures/mcp-servers";
import {
  apiCall,
  cliEnv,
  LiveCli,
  PASSWORD,
  spawnApp,
  tempConfigHome,
  writeLogin,
  type App,
  type SeededUser,
} from "./cli-helpers";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Integration = { id: string; name: string; url: string; status: string };
type Connected = { integration: Integration; error?: { code: string; message: string } };
type CallResponse = { result?: { content: { type: string; text?: string }[] } };

let app: App;
let user: SeededUser & { publicId: string };
let other: SeededUser & { publicId: string };
const running: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  // PGlite is single-process: users are seeded (and their public ids read) before the app starts.
  const seed = async (name: string) => {
    const email = `${name}-${Math.random().toString(36).slice(2, 8)}@uid.test`;
    const u = await signUp({ email, password: PASSWORD, name });
    const { token } = await createApiToken(u, { name: "test", expiresInDays: undefined });
    return { id: u.id, email, token, publicId: await publicUserId(u.id) };
  };
  user = await seed("caller");
  other = await seed("other");
  await closeDb();
  const started = await spawnApp([], { POKE_TUNNEL_HEARTBEAT_MS: "1000" });
  app = { ...started, users: { caller: user, other } };
});

afterAll(async () => {
  await Promise.all(running.splice(0).map((r) => r.close().catch(() => {})));
  await app?.stop();
});

async function track<T extends { close(): Promise<unknown> }>(x: Promise<T>): Promise<T> {
  const v = await x;
  running.push(v);
  return v;
}

async function add(who: SeededUser, name: string, url: string): Promise<Integration> {
  const r = await apiCall<Connected>(app, who, "POST", "/api/v1/integrations", { name, url });
  expect(r.data.error, `${name}: ${r.data.error?.message}`).toBeUndefined();
  return r.data.integration;
}

async function integrationNamed(name: string): Promise<Integration | undefined> {
  const r = await apiCall<{ integrations: Integration[] }>(app, user, "GET", "/api/v1/integrations");
  return r.data.integrations.find((i) => i.name === name);
}

/** Calls the fixture's whoami tool; returns the X-Poke-User-Id it received. */
async function whoami(who: SeededUser, id: string): Promise<string> {
  const r = await apiCall<CallResponse>(app, who, "POST", `/api/v1/integrations/${id}/tools/whoami/call`, {
    arguments: {},
  });
  expect(r.status).toBe(200);
  return JSON.parse(r.data.result!.content[0].text!).userId;
}

/** The distinct X-Poke-User-Id values among a fixture's recorded requests to its MCP endpoint. */
const idsSeen = (requests: RecordedRequest[]) =>
  new Set(
    requests.filter((r) => !r.path.startsWith("/.well-known/")).map((r) => r.headers["x-poke-user-id"]),
  );

function tunnel(local: string, name: string): LiveCli {
  const home = tempConfigHome();
  writeLogin(home, app, user);
  const cli = new LiveCli(["tunnel", local, "-n", name], cliEnv(home, { POKE_TUNNEL_HEARTBEAT_MS: "1000" }));
  running.push({ close: () => cli.stop() });
  return cli;
}

describe("X-Poke-User-Id", () => {
  it("is the user's public UUID, not the internal id, and differs between users", () => {
    expect(user.publicId).toMatch(UUID);
    expect(other.publicId).toMatch(UUID);
    expect(user.publicId).not.toBe(other.publicId);
    expect(user.publicId).not.toBe(user.id);
  });

  it("is the same over Streamable HTTP, legacy SSE, the tunnel (to both) and the agent endpoint", async () => {
    const streamable = await track<McpFixture>(startMcpServer({ mode: "sessionful" }));
    const sse = await track<SseFixture>(startSseServer());
    const tunneledHttp = await track<McpFixture>(startMcpServer({ mode: "sessionful" }));
    const tunneledSse = await track<SseFixture>(startSseServer());

    const direct = await add(user, "direct", streamable.url);
    const legacy = await add(user, "legacy", sse.url);
    expect(await whoami(user, direct.id)).toBe(user.publicId);
    expect(await whoami(user, legacy.id)).toBe(user.publicId);

    // `poke tunnel` to a Streamable HTTP server and to a server that speaks only the 2024-11-05 HTTP+SSE
    // transport (GET /sse announces POST /messages?sessionId=… on its own origin).
    const httpCli = tunnel(tunneledHttp.url, "via-tunnel");
    const sseCli = tunnel(tunneledSse.url, "via-tunnel-sse");
    await httpCli.waitFor(/Tunnel online: \d+ tools/);
    await sseCli.waitFor(/Tunnel online: \d+ tools/);
    const viaTunnel = (await integrationNamed("via-tunnel"))!;
    const viaTunnelSse = (await integrationNamed("via-tunnel-sse"))!;
    expect(viaTunnelSse.status).toBe("connected");
    expect(await whoami(user, viaTunnel.id)).toBe(user.publicId);
    expect(await whoami(user, viaTunnelSse.id)).toBe(user.publicId);
    // The legacy server's message endpoint was reached through the tunnel: the CLI logged the POSTs.
    expect(sseCli.stdout).toMatch(/POST \/messages 202/);
    expect(tunneledSse.requests.some((r) => r.path === "/messages" && r.rpcMethod === "tools/call")).toBe(
      true,
    );

    // Tool calls through the agent endpoint reach the same servers with the same id.
    const agent = new Client(
      { name: "uid-test", version: "1.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    await agent.connect(
      new StreamableHTTPClientTransport(new URL(`${app.url}/api/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${user.token}` } },
      }),
    );
    try {
      for (const name of ["direct", "legacy", "via-tunnel-sse"]) {
        const r = (await agent.callTool({ name: `${name}__whoami`, arguments: {} })) as {
          content: { text: string }[];
        };
        expect(JSON.parse(r.content[0].text).userId, name).toBe(user.publicId);
      }
    } finally {
      await agent.close();
    }

    // Every request each server received — initialize, lists, calls, SSE GETs, message POSTs, DELETEs —
    // carried exactly that one id.
    for (const [name, fx] of Object.entries({ streamable, sse, tunneledHttp, tunneledSse }))
      expect([...idsSeen(fx.requests)], name).toEqual([user.publicId]);
    expect(tunneledSse.requests.some((r) => r.method === "GET" && r.path === "/sse")).toBe(true);
  });

  it("is another user's own UUID on the same server", async () => {
    const shared = await track<McpFixture>(startMcpServer());
    const mine = await add(user, "shared-mine", shared.url);
    const theirs = await add(other, "shared-theirs", shared.url);
    expect(await whoami(user, mine.id)).toBe(user.publicId);
    expect(await whoami(other, theirs.id)).toBe(other.publicId);
    expect(idsSeen(shared.requests)).toEqual(new Set([user.publicId, other.publicId]));
  });
});
