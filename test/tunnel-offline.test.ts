// A tunnel that dies while a call is in flight (docs/security.md §19): the real CLI is killed (SIGKILL: no
// goodbye, the socket just drops), stopped (Ctrl+C) or replaced by a newer `poke tunnel` mid-call, and the
// call answers 503 tunnel_offline at once — whether the local server had started answering (an event
// stream) or not (a JSON answer still pending) — on the REST API and the agent endpoint. And a call through
// a tunnel that times out ends the local request too (docs/security.md §14). The real CLI dials the real
// app (production build).
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startHostileServer, startMcpServer, type FixtureHandle, type McpMode } from "./fixtures/mcp-servers";
import { apiCall, cliEnv, LiveCli, startApp, tempConfigHome, writeLogin, type App } from "./cli-helpers";
import { waitFor } from "./wait";

type Integration = { id: string; name: string; status: string };
type CallResponse = { result?: unknown; error?: { code: string; message: string } };

let app: App;
let env: NodeJS.ProcessEnv;
const running: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  app = await startApp(["alice"]);
  const home = tempConfigHome();
  writeLogin(home, app, app.users.alice);
  // A long heartbeat: only the socket dropping can tell the app the tunnel is gone this fast.
  env = cliEnv(home, { POKE_TUNNEL_HEARTBEAT_MS: "60000" });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close().catch(() => {})));
});

afterAll(async () => {
  await app?.stop();
});

async function tunnelTo<T extends FixtureHandle>(
  local: T,
  name: string,
): Promise<{ local: T; cli: LiveCli; id: string }> {
  running.push(local);
  const cli = openTunnel(local.url, name);
  await cli.waitFor(/Tunnel online/);
  const r = await apiCall<{ integrations: Integration[] }>(
    app,
    app.users.alice,
    "GET",
    "/api/v1/integrations",
  );
  return { local, cli, id: r.data.integrations.find((i) => i.name === name)!.id };
}

function openTunnel(url: string, name: string): LiveCli {
  const cli = new LiveCli(["tunnel", url, "-n", name], env);
  running.push({ close: () => cli.stop("SIGKILL") });
  return cli;
}

const callHang = (id: string, timeoutMs?: number) =>
  apiCall<CallResponse>(app, app.users.alice, "POST", `/api/v1/integrations/${id}/tools/hang/call`, {
    arguments: {},
    ...(timeoutMs ? { timeoutMs } : {}),
  });

const statusOf = async (id: string) =>
  (await apiCall<{ integration: Integration }>(app, app.users.alice, "GET", `/api/v1/integrations/${id}`))
    .data.integration.status;

describe("a tunnel killed mid-call", () => {
  // sessionful: the local server answers tools/call with an event stream at once (the head has come back);
  // modern: it answers JSON when the tool finishes (the head is still pending).
  const cases: [McpMode, NodeJS.Signals][] = [
    ["sessionful", "SIGKILL"],
    ["modern", "SIGKILL"],
    ["sessionful", "SIGINT"],
  ];
  it.each(cases)("%s server, CLI stopped with %s → 503 tunnel_offline", async (mode, signal) => {
    const name = `dies-${mode}-${signal.toLowerCase()}`;
    const { local, cli, id } = await tunnelTo(await startMcpServer({ mode }), name);
    const pending = callHang(id);
    await waitFor(() => local.calls.some((c) => c.name === "hang"), { what: "the call reaching the server" });
    cli.child.kill(signal);
    const r = await pending;
    expect(r.data.error?.code).toBe("tunnel_offline");
    expect(r.status).toBe(503);
    expect(r.data.error?.message).toContain(`"${name}"`);
    await waitFor(async () => (await statusOf(id)) === "offline", { what: "the integration offline" });
    // The next call fails the same way, sending nothing anywhere.
    const next = await callHang(id);
    expect(next.data.error?.code).toBe("tunnel_offline");
    expect(local.calls.filter((c) => c.name === "hang").length).toBe(1);
  });

  it("answers the agent endpoint's call with a tunnel_offline error result", async () => {
    const { local, cli } = await tunnelTo(await startMcpServer({ mode: "sessionful" }), "dies-agent");
    const client = new Client({ name: "t", version: "1" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${app.url}/api/mcp`), {
        authProvider: { token: async () => app.users.alice.token },
      }),
    );
    running.push({ close: () => client.close() });
    const pending = client.callTool({ name: "dies-agent__hang", arguments: {} });
    await waitFor(() => local.calls.some((c) => c.name === "hang"), { what: "the call reaching the server" });
    cli.child.kill("SIGKILL");
    const r = await pending;
    expect(r.isError).toBe(true);
    expect(r._meta?.["poke/errorCode"]).toBe("tunnel_offline");
  });

  it("a newer `poke tunnel` taking the name over fails the older one's calls at once", async () => {
    const { local, id } = await tunnelTo(await startMcpServer({ mode: "sessionful" }), "taken-over");
    const pending = callHang(id, 120_000);
    await waitFor(() => local.calls.some((c) => c.name === "hang"), { what: "the call reaching the server" });
    const newer = openTunnel(local.url, "taken-over");
    await newer.waitFor(/Tunnel online/);
    const r = await pending;
    expect(r.data.error?.code).toBe("tunnel_offline");
    expect(r.status).toBe(503);
    // The newer tunnel serves the next call; the hanging one was not replayed.
    const next = await apiCall<CallResponse>(
      app,
      app.users.alice,
      "POST",
      `/api/v1/integrations/${id}/tools/echo/call`,
      { arguments: { text: "newer" } },
    );
    expect(JSON.stringify(next.data.result)).toContain("newer");
    expect(local.calls.filter((c) => c.name === "hang").length).toBe(1);
  });
});

describe("a call through a tunnel that times out", () => {
  it("ends the local request: the local server's streams and sockets are freed", async () => {
    const { local, id } = await tunnelTo(await startHostileServer("sse-keepalive"), "keepalive");
    const before = await local.openSockets();
    const answers = await Promise.all(Array.from({ length: 10 }, () => callHang(id, 300)));
    expect(answers.map((a) => a.data.error?.code)).toEqual(Array(10).fill("timeout"));
    await waitFor(() => local.openStreams() === 0, { what: "every held event stream to end" });
    await waitFor(async () => (await local.openSockets()) <= before, {
      what: `the local server's sockets to fall back to ${before}`,
    });
  });
});
