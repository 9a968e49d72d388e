// `poke tunnel` end to end: the real CLI dials the real app (production build); the app reaches a local
// fixture server only through the tunnel. Tool calls, an SSE stream, Ctrl+C → offline → fail fast,
// restart → online again with the same integration, and a stdio server tunneled with --stdio.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { apiCall, cliEnv, LiveCli, startApp, tempConfigHome, writeLogin, type App } from "./cli-helpers";
import { waitFor } from "./wait";

type Integration = {
  id: string;
  name: string;
  url: string;
  status: string;
  toolCount?: number;
  lastError?: string;
};
type CallResponse = {
  result?: { content: { type: string; text?: string }[] };
  error?: { code: string; message: string };
};

let app: App;
let env: NodeJS.ProcessEnv;
/** Each test's local server and tunnels, stopped after it however it ends. */
const running: { close(): Promise<unknown> }[] = [];

async function localServer(): Promise<McpFixture> {
  const local = await startMcpServer({ mode: "sessionful" });
  running.push(local);
  return local;
}

function tunnel(args: string[]): LiveCli {
  const cli = new LiveCli(["tunnel", ...args], env);
  running.push({ close: () => cli.stop() });
  return cli;
}

beforeAll(async () => {
  app = await startApp(["alice", "bob"]);
  const home = tempConfigHome();
  writeLogin(home, app, app.users.alice);
  env = cliEnv(home, { POKE_TUNNEL_HEARTBEAT_MS: "1000" });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close().catch(() => {})));
});

afterAll(async () => {
  await app?.stop();
});

const statusOf = (name: string, status: string) =>
  waitFor(async () => (await integrationNamed(name))?.status === status, { what: `"${name}" ${status}` });

async function integrationNamed(name: string, who = app.users.alice): Promise<Integration | undefined> {
  const r = await apiCall<{ integrations: Integration[] }>(app, who, "GET", "/api/v1/integrations");
  return r.data.integrations.find((i) => i.name === name);
}

const call = (id: string, tool: string, args: Record<string, unknown>, who = app.users.alice) =>
  apiCall<CallResponse>(app, who, "POST", `/api/v1/integrations/${id}/tools/${tool}/call`, {
    arguments: args,
  });

describe("poke tunnel", () => {
  it("creates the integration, calls tools through it, goes offline on Ctrl+C and revives", async () => {
    const local = await localServer();
    const cli = tunnel([local.url, "-n", "laptop"]);
    await cli.waitFor(/Tunnel online: (\d+) tools/);
    expect(cli.stdout).toMatch(/Created integration "laptop"/);

    const integ = (await integrationNamed("laptop"))!;
    expect(integ.status).toBe("connected");
    expect(integ.url).toMatch(new RegExp(`^${app.url}/api/tunnel/[A-Za-z0-9_-]+/mcp$`));
    expect(integ.toolCount).toBeGreaterThan(5);

    const r = await call(integ.id, "echo", { text: "through the tunnel" });
    expect(r.status).toBe(200);
    expect(r.data.result?.content[0].text).toBe("through the tunnel");
    // The local server saw the call, with Poke's user header, forwarded by the CLI.
    expect(local.calls.some((c) => c.name === "echo")).toBe(true);
    const who = await call(integ.id, "whoami", {});
    expect(JSON.parse(who.data.result!.content[0].text!).userId).toBe(app.users.alice.publicId);
    // One log line per request: method, path, status, latency — and never a header value.
    await cli.waitFor(/POST \/mcp 200 [\d.]+ ms/);
    expect(cli.stdout).not.toContain(app.users.alice.token);
    expect(cli.stdout).not.toContain(app.users.alice.id);

    // Ctrl+C → the app marks it offline; calls fail at once with tunnel_offline naming the integration
    // (not with a timeout: nothing waits for the tunnel to come back).
    expect(await cli.stop("SIGINT")).toBe(0);
    await statusOf("laptop", "offline");
    const down = await call(integ.id, "echo", { text: "x" });
    expect(down.status).toBe(503);
    expect(down.data.error?.code).toBe("tunnel_offline");
    expect(down.data.error?.message).toMatch(/"laptop".*poke tunnel/);

    // Restart → same integration id, online again.
    const again = tunnel([local.url, "-n", "laptop"]);
    await again.waitFor(/Tunnel online/);
    expect(again.stdout).toMatch(/Revived integration "laptop"/);
    expect((await integrationNamed("laptop"))?.id).toBe(integ.id);
    expect((await call(integ.id, "echo", { text: "back" })).data.result?.content[0].text).toBe("back");
    await again.stop();
  });

  it("streams SSE through the tunnel event by event (list_changed reaches the app while a session is open)", async () => {
    const local = await localServer();
    const cli = tunnel([local.url, "-n", "streams"]);
    await cli.waitFor(/Tunnel online: (\d+) tools/);
    const integ = (await integrationNamed("streams"))!;
    // Open a pooled session (the sessionful fixture keeps a GET SSE stream open through the tunnel).
    expect((await call(integ.id, "echo", { text: "open" })).status).toBe(200);
    await cli.waitFor(/GET \/mcp 200 [\d.]+ ms \(stream\)/);
    const before = integ.toolCount ?? 0;
    local.addTool("added_while_streaming");
    // The notification arrives over the open SSE stream → debounced re-sync → the new tool is listed.
    await waitFor(async () => (await integrationNamed("streams"))?.toolCount === before + 1, {
      what: "the re-synced tool count",
    });
    // A slow tool answers after its delay through the same multiplexed socket, while others proceed.
    const slow = call(integ.id, "slow", { ms: 800 });
    const fast = await call(integ.id, "echo", { text: "fast" });
    expect(fast.data.result?.content[0].text).toBe("fast");
    expect((await slow).data.result?.content[0].text).toBe("slept 800ms");
  });

  it("in-flight calls fail fast (never replayed) when the tunnel drops; a lost heartbeat marks it offline", async () => {
    const local = await localServer();
    const cli = tunnel([local.url, "-n", "drops"]);
    await cli.waitFor(/Tunnel online/);
    const integ = (await integrationNamed("drops"))!;
    const hanging = call(integ.id, "hang", {});
    await waitFor(() => local.calls.some((c) => c.name === "hang"), { what: "the call reaching the server" });
    // Freeze the CLI: no pongs → the server's heartbeat (1 s) notices. The call fails with tunnel_offline
    // rather than waiting for its own timeout.
    cli.child.kill("SIGSTOP");
    const r = await hanging;
    expect(r.data.error?.code).toBe("tunnel_offline");
    await statusOf("drops", "offline");
    cli.child.kill("SIGCONT");
    // The CLI notices, reconnects with backoff, and the integration is online again — the hanging call was
    // not replayed.
    await cli.waitFor(/Reconnected integration "drops"/);
    expect(local.calls.filter((c) => c.name === "hang").length).toBe(1);
  });

  it("tunnels a stdio server with --stdio", async () => {
    const cli = tunnel([
      "--stdio",
      "-n",
      "stdio-tool",
      "--env",
      "POKE_FIXTURE_SECRET=s3",
      "--",
      process.execPath,
      "--import",
      "tsx",
      "test/fixtures/stdio-server.ts",
    ]);
    await cli.waitFor(/Tunnel online: (\d+) tools/);
    const integ = (await integrationNamed("stdio-tool"))!;
    const r = await call(integ.id, "env", { name: "POKE_FIXTURE_SECRET" });
    expect(r.data.result?.content[0].text).toBe("s3");
    expect(await cli.stop()).toBe(0);
  });
});
