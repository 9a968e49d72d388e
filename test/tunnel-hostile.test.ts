// Hostile tunnel cases (docs/security.md §18–19): a hand-written protocol peer on each side of the real code.
// - app side: raw WebSocket clients against the real server (bad tokens, oversized frames, garbage,
//   another user's name) — the app must refuse and keep other users unaffected;
// - CLI side: a fake "app" sends the real CLI frames asking for other targets — the CLI must refuse them.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { MAX_FRAME_BYTES, TUNNEL_PATH, type ControlFrame } from "../lib/tunnel/protocol";
import { apiCall, cliEnv, LiveCli, startApp, tempConfigHome, writeLogin, type App } from "./cli-helpers";
import { waitFor } from "./wait";

type Integration = { id: string; name: string; url: string; status: string };

let app: App;
let local: McpFixture;

beforeAll(async () => {
  app = await startApp(["alice", "mallory"]);
  local = await startMcpServer();
});

afterAll(async () => {
  await app?.stop();
  await local?.close();
});

function dial(token?: string): WebSocket {
  return new WebSocket(app.url.replace(/^http/, "ws") + TUNNEL_PATH, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

function closed(ws: WebSocket): Promise<{ code: number; frames: ControlFrame[] }> {
  const frames: ControlFrame[] = [];
  ws.on("message", (d, bin) => {
    if (!bin) frames.push(JSON.parse(d.toString()));
  });
  return new Promise((resolve) => ws.on("close", (code) => resolve({ code, frames })));
}

describe("tunnel endpoint (app side)", () => {
  it("refuses upgrades without a valid API token (HTTP 401, no socket)", async () => {
    for (const token of [undefined, "poke_forged", app.users.alice.token.slice(0, -2) + "xx"]) {
      const ws = dial(token);
      const status = await new Promise<number | undefined>((resolve) => {
        ws.on("unexpected-response", (_q, res) => resolve(res.statusCode));
        ws.on("open", () => resolve(101));
        ws.on("error", () => {});
      });
      expect(status).toBe(401);
    }
  });

  it("closes the connection on an oversized frame (1009) and on garbage frames (4400)", async () => {
    const big = dial(app.users.alice.token);
    const bigClosed = closed(big);
    await new Promise((r) => big.once("open", r));
    big.send(Buffer.alloc(MAX_FRAME_BYTES + 1024, 1));
    expect((await bigClosed).code).toBe(1009);

    const junk = dial(app.users.alice.token);
    const junkClosed = closed(junk);
    await new Promise((r) => junk.once("open", r));
    junk.send("{ not json");
    const r = await junkClosed;
    expect(r.code).toBe(4400);
    expect(r.frames.find((f) => f.t === "error")).toMatchObject({ code: "protocol_error" });
  });

  it("another user's token attaches to their OWN integration of that name, never to the owner's", async () => {
    const env = cliEnv(tempConfigHome(), { POKE_TUNNEL_HEARTBEAT_MS: "1000" });
    writeLogin(env.XDG_CONFIG_HOME!, app, app.users.alice);
    const alice = new LiveCli(["tunnel", local.url, "-n", "shared-name"], env);
    await alice.waitFor(/Tunnel online/);
    const aliceInteg = (
      await apiCall<{ integrations: Integration[] }>(app, app.users.alice, "GET", "/api/v1/integrations")
    ).data.integrations.find((i) => i.name === "shared-name")!;

    const menv = cliEnv(tempConfigHome());
    writeLogin(menv.XDG_CONFIG_HOME!, app, app.users.mallory);
    const mallory = new LiveCli(["tunnel", local.url, "-n", "shared-name"], menv);
    const [, malloryId] = await mallory.waitFor(/Created integration "shared-name" \(([^)]+)\)/);
    expect(malloryId).not.toBe(aliceInteg.id);
    // Alice's tunnel is untouched and still serves her calls.
    const call = await apiCall<{ result?: { content: { text: string }[] } }>(
      app,
      app.users.alice,
      "POST",
      `/api/v1/integrations/${aliceInteg.id}/tools/echo/call`,
      { arguments: { text: "still mine" } },
    );
    expect(call.data.result?.content[0].text).toBe("still mine");
    // Mallory can't see or call Alice's integration by id (404, no outbound request).
    const peek = await apiCall(app, app.users.mallory, "GET", `/api/v1/integrations/${aliceInteg.id}`);
    expect(peek.status).toBe(404);
    await mallory.stop();
    // Mallory pointing a regular integration at Alice's tunnel URL gets nothing through it.
    const requestsBefore = local.requests.length;
    const hijack = await apiCall<{ error?: { code: string } }>(
      app,
      app.users.mallory,
      "POST",
      "/api/v1/integrations",
      {
        name: "hijack",
        url: aliceInteg.url,
      },
    );
    expect(hijack.data.error?.code).toBe("tunnel_offline");
    expect(local.requests.length).toBe(requestsBefore);
    await alice.stop();
  });

  it("won't turn a regular integration into a tunnel", async () => {
    await apiCall(app, app.users.alice, "POST", "/api/v1/integrations", { name: "regular", url: local.url });
    const env = cliEnv(tempConfigHome());
    writeLogin(env.XDG_CONFIG_HOME!, app, app.users.alice);
    const cli = new LiveCli(["tunnel", local.url, "-n", "regular"], env);
    expect(await cli.exited).toBe(1);
    expect(cli.stderr).toMatch(/not a tunnel; choose another name/);
  });
});

describe("poke tunnel (CLI side) against a hostile app", () => {
  let fake: http.Server;
  let wss: WebSocketServer;
  let peer: Promise<WebSocket>;
  let fakeUrl: string;
  let target: McpFixture;

  beforeAll(async () => {
    target = await startMcpServer();
    fake = http.createServer();
    wss = new WebSocketServer({ server: fake, path: TUNNEL_PATH });
    peer = new Promise((resolve) => wss.once("connection", resolve));
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
    fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    wss?.close();
    fake?.close();
    await target?.close();
  });

  it("forwards only to its one target: other origins, other paths and smuggled URLs are refused", async () => {
    const env = cliEnv(tempConfigHome(), { POKE_URL: fakeUrl, POKE_TOKEN: "poke_fake" });
    const cli = new LiveCli(["tunnel", target.url, "-n", "victim"], env);
    const ws = await peer;
    const frames: ControlFrame[] = [];
    ws.on("message", (d, bin) => {
      if (!bin) frames.push(JSON.parse(d.toString()));
    });
    await waitFor(() => frames.find((f) => f.t === "hello"), { what: "the CLI's hello" });
    const origin = new URL(target.url).origin;
    const hostile = [
      "http://169.254.169.254/latest/meta-data/",
      "http://127.0.0.1:22/",
      `${origin}/admin`,
      `${origin}/mcpx`,
      // Same origin but never named by the target (it advertised no authorization server endpoints).
      `${origin}/token`,
      `${origin}/.well-known/../admin`,
      `${origin}/mcp/../secret`,
      `http://user:pw@${new URL(target.url).host}/mcp`,
      `file:///etc/passwd`,
    ];
    hostile.forEach((url, i) =>
      ws.send(JSON.stringify({ t: "req", id: i + 1, method: "GET", url, headers: [], body: false })),
    );
    await waitFor(() => frames.filter((f) => f.t === "reset").length === hostile.length, {
      what: "a reset for every hostile request",
    });
    for (const f of frames.filter((x) => x.t === "reset"))
      expect(f).toMatchObject({ code: "refused_target" });
    // Nothing reached the local server for those.
    expect(target.requests.filter((r) => r.path !== "/mcp").length).toBe(0);
    // A request for the target itself is forwarded.
    ws.send(
      JSON.stringify({
        t: "req",
        id: 100,
        method: "POST",
        url: target.url,
        headers: [
          ["content-type", "application/json"],
          ["accept", "application/json, text/event-stream"],
        ],
        body: true,
      }),
    );
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    });
    const payload = Buffer.concat([Buffer.from([1, 0, 0, 0, 100]), Buffer.from(body)]);
    ws.send(payload);
    ws.send(JSON.stringify({ t: "end", id: 100 }));
    expect(await waitFor(() => frames.find((f) => f.t === "res"), { what: "the response" })).toMatchObject({
      id: 100,
      status: 200,
    });
    expect(cli.stdout).toMatch(/GET \/admin refused/);
    await cli.stop();
  });
});
