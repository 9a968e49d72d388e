// Prometheus metrics (GET /api/metrics, docs/deploy.md): requests and tool calls (counts and latency by
// outcome), breaker states, pooled upstream sessions, open tunnels, agent sessions, event-loop lag, database
// pool use, and Node's process metrics. One registry per process, kept in the process state: server.ts
// (which times every HTTP request) and the Next.js bundles load their own copies of this module and of
// prom-client, and all of them must count into the same metric objects.
// Gauges are read when scraped, from inside the bundle (dynamic imports: server.ts never loads them).
import client from "prom-client";
import { processState } from "@/lib/state";

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

function create() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "poke_", eventLoopMonitoringPrecision: 10 });
  const registers = [registry];
  return {
    registry,
    requests: new client.Counter({
      name: "poke_http_requests_total",
      help: "HTTP requests by route group, method and outcome (status class)",
      labelNames: ["route", "method", "outcome"] as const,
      registers,
    }),
    requestSeconds: new client.Histogram({
      name: "poke_http_request_duration_seconds",
      help: "Time to the end of the response by route group and outcome (streams: until they end)",
      labelNames: ["route", "outcome"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    toolCalls: new client.Counter({
      name: "poke_tool_calls_total",
      help: "Tool calls by source (agent, api, playground) and outcome (ok, tool_error, error, timeout, rejected…)",
      labelNames: ["source", "outcome"] as const,
      registers,
    }),
    toolCallSeconds: new client.Histogram({
      name: "poke_tool_call_duration_seconds",
      help: "Tool call latency by source and outcome",
      labelNames: ["source", "outcome"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    breakers: new client.Gauge({
      name: "poke_circuit_breakers",
      help: "Circuit breakers by state: with Redis, the deployment's shared ones; without, this process's",
      labelNames: ["state"] as const,
      registers,
    }),
    pooled: new client.Gauge({
      name: "poke_pooled_sessions",
      help: "Open pooled upstream MCP sessions",
      registers,
    }),
    tunnels: new client.Gauge({
      name: "poke_tunnels_open",
      help: "Tunnels whose WebSocket this instance holds",
      registers,
    }),
    agentSessions: new client.Gauge({
      name: "poke_agent_sessions",
      help: "Open agent endpoint sessions by transport",
      labelNames: ["transport"] as const,
      registers,
    }),
    dbPool: new client.Gauge({
      name: "poke_db_pool_connections",
      help: "PostgreSQL pool connections by state (total, idle, waiting clients); absent on the embedded database",
      labelNames: ["state"] as const,
      registers,
    }),
  };
}

type Metrics = ReturnType<typeof create>;
const metrics = (): Metrics => processState("metrics", create);

/** Bounded route labels: the endpoint families, never raw paths (ids and names stay out of label values). */
export function routeGroup(pathname: string): string {
  if (/^\/api\/mcp\/sse(\/|$)/.test(pathname)) return "/api/mcp/sse";
  if (/^\/api\/mcp\/[^/]+\/sse$/.test(pathname)) return "/api/mcp/:toolset/sse";
  if (pathname === "/api/mcp") return "/api/mcp";
  if (/^\/api\/mcp\/[^/]+$/.test(pathname)) return "/api/mcp/:toolset";
  const api = /^\/api\/(v1|tunnel|auth|oauth|metrics|health)(\/|$)/.exec(pathname);
  if (api) return `/api/${api[1]}`;
  if (pathname.startsWith("/api/")) return "/api/other";
  if (pathname.startsWith("/_next/")) return "static";
  return "page";
}

const outcomeOf = (status: number) => `${Math.floor(status / 100)}xx`;

/** One finished HTTP response (server.ts). */
export function observeRequest(method: string, url: string, status: number, seconds: number): void {
  const m = metrics();
  const route = routeGroup(url.split("?")[0] ?? "/");
  const outcome = outcomeOf(status);
  const verb = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$/.test(method) ? method : "OTHER";
  m.requests.inc({ route, method: verb, outcome });
  m.requestSeconds.observe({ route, outcome }, seconds);
}

/** One ended tool call, whatever its outcome (lib/data/integrations.ts). */
export function observeToolCall(source: string, outcome: string, seconds: number): void {
  const m = metrics();
  m.toolCalls.inc({ source, outcome });
  m.toolCallSeconds.observe({ source, outcome }, seconds);
}

/** The exposition text; gauges are sampled now. */
export async function renderMetrics(): Promise<{ body: string; contentType: string }> {
  const m = metrics();
  await sampleGauges(m);
  return { body: await m.registry.metrics(), contentType: m.registry.contentType };
}

async function sampleGauges(m: Metrics): Promise<void> {
  const [pool, tunnels, legacy, sse, limits, db] = await Promise.all([
    import("@/lib/mcp/pool"),
    import("@/lib/tunnel/registry"),
    import("@/lib/agent/legacy-sessions"),
    import("@/lib/agent/sse"),
    import("@/lib/limits/calls"),
    import("@/lib/db"),
  ]);
  m.pooled.set(pool.poolSize());
  m.tunnels.set(tunnels.liveTunnels().length);
  m.agentSessions.set({ transport: "streamable_http" }, legacy.legacySessionCount());
  m.agentSessions.set({ transport: "sse" }, sse.sseSessionCount());
  const counts = (await sharedBreakerCounts()) ?? (await limits.breakerCounts());
  if (counts) for (const [state, n] of Object.entries(counts)) m.breakers.set({ state }, n);
  const stats = db.dbPoolStats();
  if (stats) for (const [state, n] of Object.entries(stats)) m.dbPool.set({ state }, n);
}

/**
 * With Redis, the breakers every instance shares (the in-process store then only holds what was learned while
 * Redis was unreachable); undefined without Redis or when it does not answer within 2 s.
 */
async function sharedBreakerCounts() {
  const [{ attemptRedis, redis, redisKey }, { countSharedBreakers }] = await Promise.all([
    import("@/lib/redis"),
    import("@/lib/limits/shared"),
  ]);
  const r = redis();
  if (!r) return undefined;
  return attemptRedis(r, "breaker metrics", () => countSharedBreakers(r, redisKey), 2_000);
}

/** GET /api/metrics: 404 unless METRICS_TOKEN is set, 401 without it as the bearer token. */
export async function handleMetricsRequest(req: Request): Promise<Response> {
  const { env } = await import("@/lib/env");
  const expected = env().METRICS_TOKEN;
  if (!expected)
    return Response.json({ error: { code: "not_found", message: "Not found" } }, { status: 404 });
  const given = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? "";
  const { hashSecret } = await import("@/lib/crypto");
  // Compared as hashes: equal length, and nothing learned from where a mismatch starts.
  if (hashSecret(given) !== hashSecret(expected)) {
    return Response.json(
      { error: { code: "unauthorized", message: "Send the metrics token as Authorization: Bearer <token>" } },
      { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="poke-metrics"' } },
    );
  }
  const { body, contentType } = await renderMetrics();
  return new Response(body, { headers: { "Content-Type": contentType, "Cache-Control": "no-store" } });
}
