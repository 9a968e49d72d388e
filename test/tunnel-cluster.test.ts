// Tunnels across instances (docs/deploy.md "Tunnels"): two app processes share PostgreSQL and Redis; the real
// `poke tunnel` holds its socket on one, calls arrive on the other and are relayed to it — JSON answers and
// event streams alike, failures included. When the holder is killed (SIGKILL), calls fail at once (the
// stale ownership is dropped, nothing hangs) and the CLI, reconnecting through a balancer to the surviving
// instance, makes the tunnel reachable again. Several instances need PostgreSQL: skipped on PGlite.
import net from "node:net";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startHostileServer, startMcpServer, type FixtureHandle, type McpMode } from "./fixtures/mcp-servers";
import {
  apiCall,
  cliEnv,
  freePort,
  LiveCli,
  spawnApp,
  startApp,
  tempConfigHome,
  writeLogin,
  type App,
} from "./cli-helpers";
import { waitFor } from "./wait";

type Integration = { id: string; name: string; status: string };
type CallResponse = { result?: unknown; error?: { code: string; message: string } };
type Instance = Awaited<ReturnType<typeof spawnApp>>;

const REDIS_URL = "redis://127.0.0.1:6379";
const postgres = Boolean(process.env.DATABASE_URL);

/** A TCP balancer in front of the instances: new connections go to `target` (what HAProxy does on failover). */
async function startBalancer(port: number) {
  let target = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    route: (to: string) => void (target = Number(new URL(to).port)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe.skipIf(!postgres)("a tunnel held by one instance", () => {
  const prefix = `poke-test-tc-${Math.random().toString(36).slice(2, 10)}:`;
  let a: App;
  let b: Instance;
  let balancer: Awaited<ReturnType<typeof startBalancer>>;
  let publicUrl: string;
  let env: NodeJS.ProcessEnv;
  const redis = new Redis(REDIS_URL);
  const running: { close(): Promise<unknown> }[] = [];

  beforeAll(async () => {
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    balancer = await startBalancer(port);
    // Both instances answer to the balancer's address (integration URLs name it).
    const shared = { REDIS_URL, REDIS_PREFIX: prefix, APP_URL: publicUrl };
    a = await startApp(["alice", "bob"], shared);
    b = await spawnApp([], shared);
    balancer.route(a.url);
    const home = tempConfigHome();
    writeLogin(home, { ...a, url: publicUrl }, a.users.alice);
    // A long heartbeat: only the socket dropping tells anyone the tunnel is gone.
    env = cliEnv(home, { POKE_TUNNEL_HEARTBEAT_MS: "60000" });
  }, 400_000);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close().catch(() => {})));
  });

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop(), balancer?.close()]);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  async function tunnelFixture<T extends FixtureHandle>(
    local: T,
    name: string,
  ): Promise<{ local: T; cli: LiveCli; id: string }> {
    running.push(local);
    const cli = new LiveCli(["tunnel", local.url, "-n", name], env);
    running.push({ close: () => cli.stop("SIGKILL") });
    await cli.waitFor(/Tunnel online/);
    const r = await apiCall<{ integrations: Integration[] }>(a, a.users.alice, "GET", "/api/v1/integrations");
    return { local, cli, id: r.data.integrations.find((i) => i.name === name)!.id };
  }

  const tunnelTo = async (mode: McpMode, name: string) => tunnelFixture(await startMcpServer({ mode }), name);

  const on = (url: string) => ({ ...a, url });
  const call = (
    url: string,
    id: string,
    tool: string,
    args: Record<string, unknown> = {},
    user = a.users.alice,
  ) =>
    apiCall<CallResponse>(on(url), user, "POST", `/api/v1/integrations/${id}/tools/${tool}/call`, {
      arguments: args,
    });

  it.each<McpMode>(["modern", "sessionful"])(
    "serves a call that arrived on the other instance (%s server: JSON and event-stream answers)",
    async (mode) => {
      const { local, id } = await tunnelTo(mode, `relay-${mode}`);
      const r = await call(b.url, id, "echo", { text: `through B ${mode}` });
      expect(r.status).toBe(200);
      expect(JSON.stringify(r.data.result)).toContain(`through B ${mode}`);
      expect(local.calls.some((c) => c.name === "echo")).toBe(true);
      // A big answer crosses in many chunks, intact.
      const big = await call(b.url, id, "big", { bytes: 300_000 });
      expect(big.status).toBe(200);
      expect(JSON.stringify(big.data.result).length).toBeGreaterThan(300_000);
    },
  );

  it("refuses another user's call through the relay as it would on the holder", async () => {
    const { local, id } = await tunnelTo("modern", "relay-foreign");
    const r = await call(b.url, id, "echo", { text: "x" }, a.users.bob);
    expect(r.status).toBe(404);
    expect(local.calls.length).toBe(0);
  });

  it("is closed to plain HTTP on every instance, relay path included", async () => {
    const { id } = await tunnelTo("modern", "relay-closed");
    const tunnelId = (await redis.keys(`${prefix}tunnel:*`)).map((k) => k.slice(`${prefix}tunnel:`.length));
    expect(tunnelId.length).toBeGreaterThan(0);
    for (const t of tunnelId) {
      const forged = await fetch(`${b.url}/api/tunnel/${t}/relay`, {
        method: "POST",
        headers: { "x-poke-relay": "forged" },
        body: `${JSON.stringify({ tunnelId: t, ts: Date.now() })}\n`,
      });
      expect(forged.status).toBe(404);
      const plain = await fetch(`${a.url}/api/tunnel/${t}/relay`, { method: "POST", body: "{}" });
      expect(plain.status).toBe(404);
    }
    expect(id).toBeTruthy();
  });

  it("a CLI killed mid-call fails the relayed call at once with tunnel_offline", async () => {
    const { local, cli, id } = await tunnelTo("sessionful", "relay-dies");
    const pending = call(b.url, id, "hang");
    await waitFor(() => local.calls.some((c) => c.name === "hang"), { what: "the call reaching the server" });
    cli.child.kill("SIGKILL");
    const r = await pending;
    expect(r.status).toBe(503);
    expect(r.data.error?.code).toBe("tunnel_offline");
    expect(r.data.error?.message).toContain('"relay-dies"');
  });

  it.each<McpMode>(["modern", "sessionful"])(
    "a caller on the other instance that gives up has the holder cancel the call on the local server (%s server)",
    async (mode) => {
      const { local, id } = await tunnelTo(mode, `relay-cancel-${mode}`);
      const gaveUp = new AbortController();
      const pending = fetch(`${b.url}/api/v1/integrations/${id}/tools/hang/call`, {
        method: "POST",
        headers: { authorization: `Bearer ${a.users.alice.token}`, "content-type": "application/json" },
        body: JSON.stringify({ arguments: {} }),
        signal: gaveUp.signal,
      }).catch((err: unknown) => err);
      await waitFor(() => local.calls.some((c) => c.name === "hang"), {
        what: "the call reaching the server",
      });
      gaveUp.abort();
      expect(await pending).toBeInstanceOf(Error);
      // The local server learns it: the call's request ends (2026) and notifications/cancelled arrives (2025).
      await waitFor(() => local.calls.find((c) => c.name === "hang")?.outcome === "cancelled", {
        what: "the local server to see the call cancelled",
      });
      if (mode === "sessionful")
        await waitFor(() => local.requests.some((r) => r.rpcMethod === "notifications/cancelled"), {
          what: "notifications/cancelled to reach the local server",
        });
    },
  );

  it("a caller on the other instance that gives up ends the local server's open event stream", async () => {
    // The answer's head and keep-alive comments have come, its result never will: only the holder resetting
    // the call's stream on the tunnel ends the local request.
    const { local, id } = await tunnelFixture(
      await startHostileServer("sse-keepalive", { mode: "modern" }),
      "relay-cancel-stream",
    );
    const gaveUp = new AbortController();
    const pending = fetch(`${b.url}/api/v1/integrations/${id}/tools/hang/call`, {
      method: "POST",
      headers: { authorization: `Bearer ${a.users.alice.token}`, "content-type": "application/json" },
      body: JSON.stringify({ arguments: {} }),
      signal: gaveUp.signal,
    }).catch((err: unknown) => err);
    await waitFor(() => local.openStreams() === 1, { what: "the local server's event stream to open" });
    gaveUp.abort();
    expect(await pending).toBeInstanceOf(Error);
    await waitFor(() => local.openStreams() === 0, { what: "the local server's event stream to end" });
  });

  // Last: it kills instance A.
  it("when the holder is killed, calls fail at once and the CLI brings the tunnel back through the other", async () => {
    const { local, cli, id } = await tunnelTo("modern", "relay-failover");
    expect((await call(b.url, id, "echo", { text: "before" })).status).toBe(200);
    await a.kill!();
    // The balancer now sends new connections to B; until the CLI is back, B answers tunnel_offline (no hang).
    balancer.route(b.url);
    const down = await call(b.url, id, "echo", { text: "during" });
    if (down.status !== 200) expect(down.data.error?.code).toBe("tunnel_offline");
    await cli.waitFor(/Tunnel online/, 120_000, cli.stdout.indexOf("Tunnel online") + 1);
    const back = await waitFor(
      async () => {
        const r = await call(b.url, id, "echo", { text: "after" });
        return r.status === 200 ? r : undefined;
      },
      { what: "the tunnel to serve calls through B again" },
    );
    expect(JSON.stringify(back.data.result)).toContain("after");
    expect(local.calls.filter((c) => c.name === "echo").length).toBeGreaterThanOrEqual(2);
  });
});
