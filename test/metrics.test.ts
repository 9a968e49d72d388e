// Operations: GET /api/metrics (Prometheus text, behind METRICS_TOKEN) and request ids (X-Request-Id on every
// response, the same id on the log lines of that request). In process against the route handler, and against
// the running production app (server.ts), on the suite's database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { GET as metricsRoute } from "@/app/api/metrics/route";
import { setEnvForProcess } from "@/lib/env";
import { requestIdFor } from "@/lib/log";
import { routeGroup } from "@/lib/metrics";
import { startApp, type App } from "./cli-helpers";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { waitFor } from "./wait";

const METRICS_TOKEN = "metrics-token-for-tests-0123456789";

/** A sample's value from Prometheus text: `name{labels} value`, labels given as a substring. */
function sample(text: string, name: string, labels = ""): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? "").includes(labels)) return Number(m[3]);
  }
  return undefined;
}

describe("the metrics route (in process)", () => {
  afterAll(() => setEnvForProcess({ METRICS_TOKEN: undefined }));

  it("is not found without METRICS_TOKEN, refuses a missing or wrong token, serves Prometheus text", async () => {
    setEnvForProcess({ METRICS_TOKEN: undefined });
    expect((await metricsRoute(new Request("http://localhost/api/metrics"))).status).toBe(404);
    setEnvForProcess({ METRICS_TOKEN });
    const none = await metricsRoute(new Request("http://localhost/api/metrics"));
    expect(none.status).toBe(401);
    const wrong = await metricsRoute(
      new Request("http://localhost/api/metrics", {
        headers: { authorization: "Bearer nope-nope-nope-nope" },
      }),
    );
    expect(wrong.status).toBe(401);
    const ok = await metricsRoute(
      new Request("http://localhost/api/metrics", { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }),
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await ok.text();
    for (const name of [
      "poke_pooled_sessions",
      "poke_tunnels_open",
      "poke_agent_sessions",
      "poke_circuit_breakers",
      "poke_nodejs_eventloop_lag_p99_seconds",
      "poke_process_resident_memory_bytes",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it("labels requests by endpoint family, never by raw path", () => {
    expect(routeGroup("/api/mcp")).toBe("/api/mcp");
    expect(routeGroup("/api/mcp/my-tools")).toBe("/api/mcp/:toolset");
    expect(routeGroup("/api/mcp/sse/messages")).toBe("/api/mcp/sse");
    expect(routeGroup("/api/mcp/my-tools/sse")).toBe("/api/mcp/:toolset/sse");
    expect(routeGroup("/api/v1/integrations/abc123/sync")).toBe("/api/v1");
    expect(routeGroup("/integrations/abc123")).toBe("page");
  });

  it("keeps a sane request id only from a trusted proxy", () => {
    expect(requestIdFor("req-1234567890", true)).toBe("req-1234567890");
    expect(requestIdFor("req-1234567890", false)).not.toBe("req-1234567890");
    expect(requestIdFor("bad id\nwith newline", true)).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdFor("x".repeat(500), true)).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("the running app", () => {
  let mcp: McpFixture;
  let app: App;

  beforeAll(async () => {
    mcp = await startMcpServer({ tools: "basic" });
    app = await startApp(["alice"], { METRICS_TOKEN, LOG_LEVEL: "debug", TRUSTED_PROXIES: "127.0.0.1" });
  }, 240_000);

  afterAll(async () => {
    await app?.stop();
    await mcp?.close();
  });

  const scrape = async () => {
    const res = await fetch(`${app.url}/api/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(res.status).toBe(200);
    return res.text();
  };

  it("every response carries X-Request-Id; a trusted proxy's own id is kept", async () => {
    const a = await fetch(`${app.url}/api/health`);
    const b = await fetch(`${app.url}/api/health`);
    expect(a.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.headers.get("x-request-id")).not.toBe(a.headers.get("x-request-id"));
    const kept = await fetch(`${app.url}/api/health`, { headers: { "x-request-id": "lb-abcdef123456" } });
    expect(kept.headers.get("x-request-id")).toBe("lb-abcdef123456");
  });

  it("counts agent requests and tool calls by outcome, and agent sessions while they are open", async () => {
    const alice = app.users.alice;
    const add = await fetch(`${app.url}/api/v1/integrations`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Metered", url: mcp.url }),
    });
    expect(add.status).toBeLessThan(300);
    const before = await scrape();
    const okBefore = sample(before, "poke_tool_calls_total", 'outcome="ok"') ?? 0;

    const client = new Client({ name: "metrics-agent", version: "1.0.0" });
    await client.connect(
      new SSEClientTransport(new URL(`${app.url}/api/mcp/sse`), {
        requestInit: { headers: { Authorization: `Bearer ${alice.token}` } },
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("metered__echo");
      await client.callTool({ name: "metered__echo", arguments: { text: "counted" } });
      const during = await scrape();
      expect(sample(during, "poke_agent_sessions", 'transport="sse"')).toBeGreaterThanOrEqual(1);
      expect(sample(during, "poke_tool_calls_total", 'source="agent",outcome="ok"')).toBeGreaterThan(
        okBefore,
      );
      expect(sample(during, "poke_tool_call_duration_seconds_count", 'outcome="ok"')).toBeGreaterThan(0);
      expect(
        sample(during, "poke_http_requests_total", 'route="/api/mcp/sse",method="POST",outcome="2xx"'),
      ).toBeGreaterThan(0);
      expect(sample(during, "poke_pooled_sessions")).toBeGreaterThanOrEqual(1);
    } finally {
      await client.close();
    }
  });

  it("log lines written while serving a request carry the id its response returned", async () => {
    const auth = { authorization: `Bearer ${app.users.alice.token}` };
    const stream = await fetch(`${app.url}/api/mcp/sse`, { headers: auth });
    const reader = stream.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const endpoint = /data: (\S+)/.exec(first)![1];
    // Not a JSON-RPC message: answered 400, and the refusal is logged at debug level.
    const res = await fetch(new URL(endpoint, app.url), {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ hello: "world" }),
    });
    expect(res.status).toBe(400);
    await reader.cancel();
    const id = res.headers.get("x-request-id")!;
    expect(id).toBeTruthy();
    await waitFor(
      () =>
        app
          .logs()
          .split("\n")
          .some((l) => l.startsWith("{") && JSON.parse(l).requestId === id),
      { what: `a JSON log line with requestId ${id}` },
    );
  });
});
