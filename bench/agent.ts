// Agent endpoint benchmark (issue 7): `npx tsx bench/agent.ts [--calls N] [--per-caller N] [--no-write]`
//  1. Added latency: tools/call through /api/mcp (the route's handler behind a plain node:http listener in
//     this process: real HTTP, token auth, catalog, limits, breaker, pooled upstream call, ToolCall insert)
//     vs a direct SDK v2 client to the same fixture. Sequential, interleaved in blocks. Target: added p50 ≤ 3 ms.
//  2. Isolation under load: 200 concurrent agent clients (20 users × 10) across 20 integrations per user
//     (20 fixture servers in their own process), every call a `whoami` that reports the X-Poke-User-Id it
//     received. Run once with every server healthy, once with 10 % of them hanging (their calls go to
//     `hang`). Target: p99 of the healthy calls ≤ 2 × the all-healthy p99, and no response carrying
//     another user's id.
// Writes the printed summary to bench/results/agent.md.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  createIntegrationRow,
  createUser,
  directClient,
  fmt,
  freshDatabase,
  percentile,
  removeDatabase,
  ROOT,
  startFixtures,
} from "./lib";

const { values } = parseArgs({
  options: {
    calls: { type: "string" },
    "per-caller": { type: "string" },
    "no-write": { type: "boolean" },
  },
});
const CALLS = Math.min(Math.max(Number(values.calls ?? 1000) || 1000, 50), 10_000);
const PER_CALLER = Math.min(Math.max(Number(values["per-caller"] ?? 30) || 30, 5), 500);
const USERS = 20;
const CALLERS_PER_USER = 10;
const SERVERS = 20;
const HANGING = 2; // 10 %
const HANG_TIMEOUT_MS = 8_000;

const lines: string[] = [];
const say = (s = "") => {
  lines.push(s);
  console.log(s);
};

// ---------------------------------------------------------------------------------------------------------

/** Serves the route handler over real HTTP, as `next start` would run it (minus Next's own routing). */
async function serveApp(
  handle: (req: Request) => Promise<Response>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const ac = new AbortController();
      res.on("close", () => ac.abort());
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      const hasBody = req.method !== "GET" && req.method !== "HEAD" && req.method !== "DELETE";
      const response = await handle(
        new Request(`http://${req.headers.host}${req.url}`, {
          method: req.method,
          headers,
          body: hasBody ? Buffer.concat(chunks) : undefined,
          signal: ac.signal,
        }),
      );
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body) {
        const reader = response.body.getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) res.write(r.value);
      }
      res.end();
    } catch (err) {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/api/mcp`,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function agentClient(url: string, token: string): Promise<Client> {
  const client = new Client(
    { name: "bench-agent", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { authProvider: { token: async () => token } }),
  );
  return client;
}

async function seedUser(urls: string[]) {
  const { createApiToken } = await import("@/lib/data/api-tokens");
  const { syncIntegration } = await import("@/lib/mcp/sync");
  const user = await createUser();
  const { token } = await createApiToken(user, { name: "bench", expiresInDays: undefined });
  const integrationIds: string[] = [];
  for (const url of urls) {
    const id = await createIntegrationRow(user.id, url);
    await syncIntegration(user.id, id);
    integrationIds.push(id);
  }
  return { user, token, integrationIds };
}

async function toolPrefixes(client: Client): Promise<string[]> {
  const { tools } = await client.listTools();
  return [...new Set(tools.map((t) => t.name.split("__")[0]))]; // catalog order = creation order
}

// ---------------------------------------------------------------------------------------------------------

async function addedLatency(appUrl: string) {
  const { configureLimits } = await import("@/lib/limits/calls");
  // A sequential loop exceeds the default 10 calls/s per user; the limiter's own cost stays in the path.
  configureLimits({ ratePerSec: 100_000, burst: 100_000 });
  const fixtures = await startFixtures({ count: 1 });
  try {
    const { token } = await seedUser(fixtures.urls);
    const direct = await directClient(fixtures.urls[0]);
    const agent = await agentClient(appUrl, token);
    const [prefix] = await toolPrefixes(agent);
    const name = `${prefix}__echo`;
    const d: number[] = [];
    const a: number[] = [];
    for (let i = 0; i < 50; i++) {
      await direct.callTool({ name: "echo", arguments: { text: "warm" } });
      await agent.callTool({ name, arguments: { text: "warm" } });
    }
    const BLOCK = 50;
    for (let done = 0; done < CALLS; done += BLOCK) {
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await direct.callTool({ name: "echo", arguments: { text: "x" } });
        d.push(performance.now() - t0);
      }
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        const r = await agent.callTool({ name, arguments: { text: "x" } });
        a.push(performance.now() - t0);
        if (r.isError) throw new Error(`agent call failed: ${JSON.stringify(r.content)}`);
      }
    }
    await direct.close();
    await agent.close();
    return {
      direct: { p50: percentile(d, 50), p99: percentile(d, 99) },
      agent: { p50: percentile(a, 50), p99: percentile(a, 99) },
    };
  } finally {
    await fixtures.stop();
  }
}

type LoadResult = {
  healthy: number[];
  hangingCalls: number;
  hangingFailFast: number;
  errors: number;
  crossUser: number;
  lagP99: number;
  seconds: number;
};

async function loadRun(appUrl: string, users: Awaited<ReturnType<typeof seedUser>>[], hanging: Set<number>) {
  const { resetLimits, configureLimits } = await import("@/lib/limits/calls");
  const { publicUserId } = await import("@/lib/data/users");
  resetLimits();
  // 10 callers per user in tight loops far exceed the default 10 calls/s per user; this measures the
  // platform under load, not the rate limiter. Concurrency (20 per user) and the breaker stay at defaults.
  configureLimits({ ratePerSec: 100_000, burst: 100_000 });
  const clients = await Promise.all(
    users.flatMap((u) =>
      Array.from({ length: CALLERS_PER_USER }, async () => ({
        user: u,
        client: await agentClient(appUrl, u.token),
      })),
    ),
  );
  // Integration names differ per user; the catalog orders them by creation, so prefix i is server i.
  const prefixesOf = new Map<string, string[]>();
  // What X-Poke-User-Id carries: the user's public UUID.
  const publicIds = new Map<string, string>();
  for (const { user, client } of clients) {
    if (!prefixesOf.has(user.user.id)) prefixesOf.set(user.user.id, await toolPrefixes(client));
    if (!publicIds.has(user.user.id)) publicIds.set(user.user.id, await publicUserId(user.user.id));
  }
  const result: LoadResult = {
    healthy: [],
    hangingCalls: 0,
    hangingFailFast: 0,
    errors: 0,
    crossUser: 0,
    lagP99: 0,
    seconds: 0,
  };
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const t0 = performance.now();
  await Promise.all(
    clients.map(async ({ user, client }, c) => {
      for (let i = 0; i < PER_CALLER; i++) {
        const s = (c * 7 + i * 3) % SERVERS; // every caller visits every server
        const name = `${prefixesOf.get(user.user.id)![s]}__${hanging.has(s) ? "hang" : "whoami"}`;
        const started = performance.now();
        if (hanging.has(s)) {
          // The agent cannot pick the upstream timeout (the pool's 60 s default applies): the client gives up.
          const r = await client
            .callTool({ name, arguments: {} }, { timeout: HANG_TIMEOUT_MS })
            .catch(() => undefined);
          result.hangingCalls++;
          if (r?.isError && performance.now() - started < 100) result.hangingFailFast++;
          continue;
        }
        try {
          const r = await client.callTool({ name, arguments: {} }, { timeout: 60_000 });
          const ms = performance.now() - started;
          if (r.isError) {
            if (result.errors++ === 0)
              console.error("first error result:", JSON.stringify(r.content).slice(0, 300));
            continue;
          }
          const text = (r.content as { type: string; text: string }[])[0]?.text ?? "{}";
          if (JSON.parse(text).userId !== publicIds.get(user.user.id)) result.crossUser++;
          result.healthy.push(ms);
        } catch (err) {
          if (result.errors++ === 0) console.error("first error:", String(err).slice(0, 300));
        }
      }
    }),
  );
  result.seconds = (performance.now() - t0) / 1000;
  lag.disable();
  result.lagP99 = lag.percentile(99) / 1e6;
  await Promise.all(clients.map(({ client }) => client.close().catch(() => {})));
  return result;
}

async function loadBench(appUrl: string) {
  const fixtures = await startFixtures({ count: SERVERS });
  try {
    const users = [];
    for (let u = 0; u < USERS; u++) users.push(await seedUser(fixtures.urls));
    await loadRun(appUrl, users.slice(0, 2), new Set()); // warm pooled sessions and JIT
    const healthy = await loadRun(appUrl, users, new Set());
    const loaded = await loadRun(appUrl, users, new Set(Array.from({ length: HANGING }, (_, i) => i)));
    return { healthy, loaded };
  } finally {
    await fixtures.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------

const dir = await freshDatabase("agent");
const { handleAgentRequest, closeAgentEndpoint } = await import("@/lib/agent/endpoint");
const { closeAll } = await import("@/lib/mcp/pool");
const app = await serveApp(handleAgentRequest);
try {
  say("# Agent endpoint benchmark");
  say();
  say(
    `${new Date().toISOString().slice(0, 10)} · ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Node ${process.version}, PGlite, loopback fixtures in a separate process.`,
  );
  say(`Run: \`npx tsx bench/agent.ts --calls ${CALLS} --per-caller ${PER_CALLER}\``);
  say();
  const lat = await addedLatency(app.url);
  const added = lat.agent.p50 - lat.direct.p50;
  say(`## 1. Added latency of /api/mcp (tools/call echo, ${CALLS} sequential calls each, modern era)`);
  say();
  say("| path | p50 (ms) | p99 (ms) |");
  say("|---|---|---|");
  say(`| direct SDK client → fixture | ${fmt(lat.direct.p50)} | ${fmt(lat.direct.p99)} |`);
  say(`| SDK client → /api/mcp → pooled session → fixture | ${fmt(lat.agent.p50)} | ${fmt(lat.agent.p99)} |`);
  say(`| **added** | **${fmt(added)}** | ${fmt(lat.agent.p99 - lat.direct.p99)} |`);
  say();
  say(`Target added p50 ≤ 3 ms: ${added <= 3 ? "**met**" : "**missed**"}.`);
  say();

  const { healthy, loaded } = await loadBench(app.url);
  const p99a = percentile(healthy.healthy, 99);
  const p99b = percentile(loaded.healthy, 99);
  say(
    `## 2. ${USERS * CALLERS_PER_USER} concurrent agent clients (${USERS} users × ${CALLERS_PER_USER}), ${SERVERS} integrations per user, ${PER_CALLER} calls each`,
  );
  say();
  say(
    "| run | healthy calls | p50 (ms) | p99 (ms) | calls/s | event-loop lag p99 (ms) | errors | cross-user |",
  );
  say("|---|---|---|---|---|---|---|---|");
  for (const [label, r] of [
    ["all servers healthy", healthy],
    [`${HANGING}/${SERVERS} servers hanging`, loaded],
  ] as const) {
    say(
      `| ${label} | ${r.healthy.length} | ${fmt(percentile(r.healthy, 50))} | ${fmt(percentile(r.healthy, 99))} | ${fmt((r.healthy.length + r.hangingCalls) / r.seconds, 0)} | ${fmt(r.lagP99)} | ${r.errors} | ${r.crossUser} |`,
    );
  }
  say();
  say(
    `Calls to the hanging servers: ${loaded.hangingCalls} (the agent gave up after ${HANG_TIMEOUT_MS / 1000} s; ${loaded.hangingFailFast} were refused at once). Their callers' slots stayed busy meanwhile, which lowers the load on the healthy servers rather than slowing them.`,
  );
  const ratio = p99b / p99a;
  say(
    `Healthy p99 with hanging servers / all-healthy p99 = ${fmt(ratio)} (target ≤ 2): ${ratio <= 2 ? "**met**" : "**missed**"}.`,
  );
  const cross = healthy.crossUser + loaded.crossUser;
  say(
    `Responses carrying another user's id: ${cross} (target 0): ${cross === 0 ? "**met**" : "**missed**"}.`,
  );
} finally {
  await app.close();
  await closeAgentEndpoint();
  await closeAll();
  await removeDatabase(dir);
}
if (!values["no-write"]) {
  fs.writeFileSync(path.join(ROOT, "bench/results/agent.md"), `${lines.join("\n")}\n`);
  console.log("\nwrote bench/results/agent.md");
}
process.exit(0);
