// Two instances on one PostgreSQL and one Redis behind HAProxy (docs/deploy.md): what one instance decides
// or holds is seen by the other. Each test addresses the instances directly where it matters which one
// serves a request, and HAProxy where a client would.
import { Client, StreamableHTTPClientTransport, type Tool } from "@modelcontextprotocol/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "../lib/db";
import { addIntegration, textOf } from "./agent-helpers";
import { apiCall, cliEnv, LiveCli, tempConfigHome, writeLogin, type SeededUser } from "./cli-helpers";
import { clusterSkipReason, startCluster, type Cluster, type Instance } from "./cluster-helpers";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { listen, webHandler, type Listener } from "./fixtures/http";
import { createMcpEndpoint, type McpEndpoint } from "./fixtures/mcp-endpoint";
import { waitFor } from "./wait";

type CallResponse = {
  result?: { content: { type: string; text?: string }[] };
  error?: { code: string; message: string };
};

let cluster: Cluster;
const cleanups: (() => Promise<unknown>)[] = [];

describe.skipIf(clusterSkipReason)("two instances behind HAProxy", () => {
  beforeAll(async () => {
    cluster = await startCluster([], {
      // Bursts of 4 calls and practically no refill: a user's fifth call anywhere is refused.
      CALL_RATE_PER_SEC: "0.001",
      CALL_BURST: "4",
      BREAKER_FAILURES: "2",
      BREAKER_COOLDOWN_SEC: "3600",
    });
  });
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((c) => c().catch(() => {})));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const call = (on: Instance, user: SeededUser, id: string, tool: string, args: Record<string, unknown>) =>
    apiCall<CallResponse>(cluster.via(on), user, "POST", `/api/v1/integrations/${id}/tools/${tool}/call`, {
      arguments: args,
    });

  async function fixture(opts: Parameters<typeof startMcpServer>[0] = {}): Promise<McpFixture> {
    const f = await startMcpServer(opts);
    cleanups.push(() => f.close());
    return f;
  }

  it("a user's rate limit holds across both instances", async () => {
    const user = await cluster.seedUser("rate");
    const server = await fixture();
    const id = await addIntegration(user.id, "Limited", server.url);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await call(i % 2 ? cluster.b : cluster.a, user, id, "echo", { text: `call ${i}` });
      statuses.push(r.status);
      if (r.status === 429) expect(r.data.error?.code).toBe("too_many_calls");
    }
    // One bucket of 4 for the user, wherever the calls land (per instance it would be 8).
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(6);
    // Another user's bucket is their own.
    const other = await cluster.seedUser("rate-other");
    const otherId = await addIntegration(other.id, "Limited", server.url);
    expect((await call(cluster.b, other, otherId, "echo", { text: "mine" })).status).toBe(200);
  });

  it("a breaker opened through one instance is open on the other", async () => {
    const endpoints = new Map<string, McpEndpoint>();
    let failing = false;
    const host: Listener = await listen(
      webHandler(async (req, { json }) => {
        const path = new URL(req.url).pathname;
        if (failing) return new Response("Internal Server Error", { status: 500 });
        let endpoint = endpoints.get(path);
        if (!endpoint) endpoints.set(path, (endpoint = createMcpEndpoint({ name: "flaky" })));
        return endpoint.fetch(req, { parsedBody: json });
      }),
      { name: "flaky" },
    );
    cleanups.push(async () => {
      await Promise.all([...endpoints.values()].map((e) => e.close()));
      await host.close();
    });
    const user = await cluster.seedUser("breaker");
    const id = await addIntegration(user.id, "Flaky", `${host.origin}/mcp`);
    failing = true;
    for (let i = 0; i < 2; i++)
      expect((await call(cluster.a, user, id, "echo", { text: "x" })).status).toBe(502);
    const sent = host.requests.length;
    const refused = await call(cluster.b, user, id, "echo", { text: "x" });
    expect(refused.status).toBe(503);
    expect(refused.data.error?.code).toBe("circuit_open");
    expect(refused.data.error?.message).toMatch(/failed 2 times in a row/);
    expect(host.requests.length).toBe(sent); // B sent nothing: the circuit is open for it too
  });

  async function agentOn(instance: Instance, token: string, onTools: (names: string[]) => void) {
    const client = new Client(
      { name: "cluster-agent", version: "1.0.0" },
      {
        listChanged: {
          tools: {
            debounceMs: 20,
            onChanged: (_err: Error | null, tools: Tool[] | null) =>
              onTools((tools ?? []).map((t) => t.name)),
          },
        },
      },
    );
    const transport = new StreamableHTTPClientTransport(new URL(`${instance.url}/api/mcp`), {
      authProvider: { token: async () => token },
    });
    await client.connect(transport);
    cleanups.push(async () => {
      await transport.terminateSession().catch(() => {});
      await client.close();
    });
    return client;
  }

  it("an agent session on one instance receives list_changed after a sync or rename on the other", async () => {
    const user = await cluster.seedUser("notified");
    const server = await fixture();
    const id = await addIntegration(user.id, "Pushy", server.url);
    const seen: string[][] = [];
    const agent = await agentOn(cluster.a, user.token, (names) => seen.push(names));
    expect((await agent.listTools()).tools.map((t) => t.name)).toContain("pushy__echo");

    server.addTool("added_elsewhere");
    const synced = await apiCall(cluster.via(cluster.b), user, "POST", `/api/v1/integrations/${id}/sync`);
    expect(synced.status).toBe(200);
    await waitFor(() => seen.some((names) => names.includes("pushy__added_elsewhere")), {
      what: "list_changed on instance a after a sync on b",
    });

    // A rename changes no upstream server: only the other instance's notification can tell a.
    const renamed = await apiCall(cluster.via(cluster.b), user, "PATCH", `/api/v1/integrations/${id}`, {
      name: "Renamed",
    });
    expect(renamed.status).toBe(200);
    await waitFor(() => seen.some((names) => names.includes("renamed__echo")), {
      what: "list_changed on instance a after a rename on b",
    });
    const called = await agent.callTool({ name: "renamed__echo", arguments: { text: "after rename" } });
    expect(textOf(called)).toBe("after rename");
  });

  it("an edit on one instance reaches the other's cached catalog and call plans at once", async () => {
    const user = await cluster.seedUser("edited");
    const first = await fixture({ instructions: "Served by the first server." });
    const second = await fixture({ instructions: "Served by the second server." });
    const id = await addIntegration(user.id, "Moving", first.url);
    const instructionsOnA = async () => {
      const agent = await agentOn(cluster.a, user.token, () => {});
      return agent.getInstructions() ?? "";
    };
    // Instance a caches the catalog and the call plan (the first server's URL).
    expect(await instructionsOnA()).toContain("first server");
    expect((await call(cluster.a, user, id, "echo", { text: "before" })).status).toBe(200);

    // The edit and its re-sync commit on b; a hears of them only through Redis (its caches live a minute).
    const moved = await apiCall(cluster.via(cluster.b), user, "PATCH", `/api/v1/integrations/${id}`, {
      url: second.url,
    });
    expect(moved.status).toBe(200);
    // Well inside the minute a missed event would take.
    await waitFor(async () => (await instructionsOnA()).includes("second server"), {
      what: "instance a's catalog after the edit on b",
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    const after = await call(cluster.a, user, id, "echo", { text: "after" });
    expect(after.status).toBe(200);
    expect(second.calls.map((c) => c.arguments)).toContainEqual({ text: "after" });
    expect(first.calls.map((c) => c.arguments)).not.toContainEqual({ text: "after" });
  });

  it("a tunnel held by one instance serves calls that arrive on the other, streams included", async () => {
    const user = await cluster.seedUser("tunnel");
    const local = await fixture({ mode: "sessionful" });
    const home = tempConfigHome();
    writeLogin(home, cluster.via(cluster.a), user); // the CLI dials instance a itself
    const cli = new LiveCli(
      ["tunnel", local.url, "-n", "laptop"],
      cliEnv(home, { POKE_TUNNEL_HEARTBEAT_MS: "1000" }),
    );
    cleanups.push(() => cli.stop());
    await cli.waitFor(/Tunnel online/);
    const db = await getDb();
    const row = await db.tunnel.findFirstOrThrow({ where: { userId: user.id } });
    expect(row.instanceId).toBe(cluster.a.instanceId);

    const r = await call(cluster.b, user, row.integrationId, "echo", { text: "from b through a" });
    expect(r.status).toBe(200);
    expect(textOf(r.data.result)).toBe("from b through a");
    // A streamed answer (the sessionful server answers over SSE) larger than one frame, and a slow one.
    const big = await call(cluster.b, user, row.integrationId, "big", { bytes: 300_000 });
    expect(big.status).toBe(200);
    expect(textOf(big.data.result)).toHaveLength(300_000);
    const slow = await call(cluster.b, user, row.integrationId, "slow", { ms: 200 });
    expect(textOf(slow.data.result)).toBe("slept 200ms");
    expect(local.calls.filter((c) => c.name === "echo" && c.outcome === "ok")).toHaveLength(1);
  });
});
