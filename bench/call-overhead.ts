// Call overhead: tools/call of `echo` through POST /api/v1/integrations/:id/tools/echo/call of a running
// production app vs a direct SDK v2 client on the same loopback fixture, sequential, interleaved in blocks
// so machine noise hits both sides alike. Then an in-process breakdown of the route's work (token auth,
// integration load, pooled call, route body) to say where any added time goes.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  benchEnv,
  createUser,
  directClient,
  fmt,
  freePort,
  freshDatabase,
  percentile,
  removeDatabase,
  ROOT,
  startFixtures,
  stopper,
  timed,
  type Child,
} from "./lib";
import { liftCallRateLimit } from "./limits";

export type CallOverheadResult = {
  calls: number;
  direct: { p50: number; p99: number };
  app: { p50: number; p99: number };
  added: { p50: number; p99: number };
  /** CPU time (user + system) the app process spent per timed call, ms: robust to a busy machine. */
  appCpuPerCall?: number;
  /** The same while the direct client's calls run (the app idle): its background work. */
  appIdleCpuPerCall?: number;
  /** p50 of each in-process stage (ms), to locate the added time. */
  breakdown: Record<string, number>;
  build: string;
};

const TARGET = { p50: 3, p99: 10 };
export const callTargets = TARGET;
/** Warm-up calls on each side before measuring (the gateway floor uses the same). */
export const WARMUP_CALLS = 1000;

/** Same rule as server.ts: a build older than any source under app/, components/ or lib/ is stale. */
export function buildState(): "fresh" | "missing" | "stale" {
  const id = path.join(ROOT, ".next/BUILD_ID");
  if (!fs.existsSync(id)) return "missing";
  const built = fs.statSync(id).mtimeMs;
  const newest = (dir: string): number => {
    if (!fs.existsSync(dir)) return 0;
    let max = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      max = Math.max(max, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
    }
    return max;
  };
  const sources = Math.max(...["app", "components", "lib"].map((d) => newest(path.join(ROOT, d))));
  return built >= sources ? "fresh" : "stale";
}

function ensureBuild(allowBuild: boolean): string {
  const state = buildState();
  if (state === "fresh" || !allowBuild)
    return state === "fresh" ? "fresh" : `${state} (used as is: --no-build)`;
  console.log(`  .next build ${state}: running next build…`);
  const r = spawnSync(process.execPath, [path.join(ROOT, "node_modules/next/dist/bin/next"), "build"], {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  if (r.status !== 0) throw new Error("next build failed");
  return `rebuilt (was ${state})`;
}

async function startApp(dataDir: string, profileDir?: string): Promise<Child & { url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(benchEnv(dataDir))) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  Object.assign(env, {
    NODE_ENV: "production",
    PORT: String(port),
    HOST: "127.0.0.1",
    APP_URL: url,
    NEXT_TELEMETRY_DISABLED: "1",
    // Measure the call path, not the per-user rate limiter's waits (the limiter still runs).
    CALL_RATE_PER_SEC: "1000000",
    CALL_BURST: "1000000",
  });
  // --cpu-prof: the app writes a V8 CPU profile when it exits (open it in Chrome DevTools or speedscope).
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [];
  const proc = spawn(process.execPath, [...profile, "--import", "tsx", "server.ts", "--no-build"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"] as const,
  });
  let output = "";
  proc.stdout.on("data", (d: Buffer) => (output += d));
  proc.stderr.on("data", (d: Buffer) => (output += d));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the app exited during start:\n${output}`);
    if (Date.now() > deadline) {
      await stopper(proc)();
      throw new Error(`the app did not become healthy within 120 s:\n${output}`);
    }
    const ok = await fetch(`${url}/api/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return { proc, url, stop: stopper(proc) };
}

export async function benchCallOverhead(o: {
  calls: number;
  allowBuild: boolean;
  /** write the app's CPU profile here */
  profileDir?: string;
}): Promise<CallOverheadResult> {
  const build = ensureBuild(o.allowBuild);
  const fixtures = await startFixtures({ tools: "basic" });
  const fixtureUrl = fixtures.urls[0];
  const dataDir = await freshDatabase("call");
  let app: (Child & { url: string }) | undefined;
  try {
    // Seed with the same data layer the app uses, then release PGlite (single-process) for the app.
    const { createApiToken } = await import("@/lib/data/api-tokens");
    const { createIntegration } = await import("@/lib/data/integrations");
    const { closeDb } = await import("@/lib/db");
    const user = await createUser();
    const { token } = await createApiToken(user, { name: "bench", expiresInDays: undefined });
    const created = await createIntegration(user, { name: "bench", url: fixtureUrl });
    if (created.error) throw new Error(`seeding the integration failed: ${created.error.message}`);
    const integrationId = created.integration.id;
    await closeDb();

    app = await startApp(dataDir, o.profileDir);
    const endpoint = `${app.url}/api/v1/integrations/${integrationId}/tools/echo/call`;
    const viaApp = async () => {
      const res = await fetch(endpoint, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ arguments: { text: "hi" } }),
      });
      const body = (await res.json()) as { result?: { content?: { text?: string }[] } };
      if (res.status !== 200 || body.result?.content?.[0]?.text !== "hi") {
        throw new Error(`the API call failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      }
    };
    const direct = await directClient(fixtureUrl);
    const viaDirect = async () => {
      const r = await direct.callTool({ name: "echo", arguments: { text: "hi" } });
      if ((r.content as { text?: string }[])[0]?.text !== "hi") throw new Error("direct call failed");
    };

    // Warm-up to a steady state: the pooled session, keep-alive sockets, and JIT tiering — the app's bundled
    // code keeps getting faster for about a thousand calls (with 100 warm-up calls the added p50 measured
    // 0.2–0.4 ms more; bench/README.md).
    for (let i = 0; i < WARMUP_CALLS; i++) {
      await viaApp();
      await viaDirect();
    }
    const appMs: number[] = [];
    const directMs: number[] = [];
    const block = 100;
    let appCpu = 0;
    let appIdleCpu = 0; // while the direct client runs: the app's background work
    for (let done = 0; done < o.calls; done += block) {
      const n = Math.min(block, o.calls - done);
      const idle0 = cpuMs(app.proc.pid);
      for (let i = 0; i < n; i++) directMs.push((await timed(viaDirect)).ms);
      appIdleCpu += cpuMs(app.proc.pid) - idle0;
      const cpu0 = cpuMs(app.proc.pid);
      for (let i = 0; i < n; i++) appMs.push((await timed(viaApp)).ms);
      appCpu += cpuMs(app.proc.pid) - cpu0;
    }
    await direct.close();
    await app.stop();
    app = undefined;

    const breakdown = await inProcessBreakdown(user, integrationId, token, Math.min(300, o.calls));
    const d = { p50: percentile(directMs, 50), p99: percentile(directMs, 99) };
    const a = { p50: percentile(appMs, 50), p99: percentile(appMs, 99) };
    return {
      calls: o.calls,
      direct: d,
      app: a,
      added: { p50: a.p50 - d.p50, p99: a.p99 - d.p99 },
      appCpuPerCall: Number.isFinite(appCpu) ? appCpu / o.calls : undefined,
      appIdleCpuPerCall: Number.isFinite(appIdleCpu) ? appIdleCpu / o.calls : undefined,
      breakdown,
      build,
    };
  } finally {
    await app?.stop();
    await fixtures.stop();
    const { closeAll } = await import("@/lib/mcp/pool");
    await closeAll();
    await removeDatabase(dataDir);
  }
}

/** CPU time (user + system) a process has used so far, ms, from /proc (Linux); NaN elsewhere. */
function cpuMs(pid: number | undefined): number {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * The route's work, stage by stage, in this process on the same database: where the added time goes
 * (the HTTP hop and Next.js routing are the rest of the app-vs-direct difference).
 */
async function inProcessBreakdown(
  user: { id: string; email: string; name: null; role: "user" },
  integrationId: string,
  token: string,
  n: number,
): Promise<Record<string, number>> {
  const { authenticateApiToken } = await import("@/lib/data/api-tokens");
  const { callIntegrationTool } = await import("@/lib/data/integrations");
  const { loadIntegration } = await import("@/lib/mcp/integration");
  const { callTool } = await import("@/lib/mcp/pool");
  await liftCallRateLimit();
  const stages: Record<string, () => Promise<unknown>> = {
    "authenticateApiToken (token lookup)": () => authenticateApiToken(token),
    "loadIntegration (row + key decrypt)": () => loadIntegration(user.id, integrationId),
    "pool callTool (lookups + pooled call)": () =>
      callTool({ userId: user.id, integrationId }, "echo", { text: "hi" }),
    "callIntegrationTool (route body)": () =>
      callIntegrationTool(user, integrationId, "echo", { arguments: { text: "hi" } }, "api"),
  };
  const out: Record<string, number> = {};
  for (const [name, fn] of Object.entries(stages)) {
    for (let i = 0; i < 30; i++) await fn();
    const ms: number[] = [];
    for (let i = 0; i < n; i++) ms.push((await timed(fn)).ms);
    out[name] = percentile(ms, 50);
  }
  return out;
}

export function describeCallOverhead(r: CallOverheadResult): string[] {
  return [
    `direct SDK p50 ${fmt(r.direct.p50)} ms, p99 ${fmt(r.direct.p99)} ms`,
    `through the app p50 ${fmt(r.app.p50)} ms, p99 ${fmt(r.app.p99)} ms`,
    `added p50 ${fmt(r.added.p50)} ms (target ≤ ${TARGET.p50}), p99 ${fmt(r.added.p99)} ms (target ≤ ${TARGET.p99})`,
    ...(r.appCpuPerCall === undefined
      ? []
      : [
          `app process CPU per call ${fmt(r.appCpuPerCall)} ms (${fmt(r.appIdleCpuPerCall ?? NaN)} ms per direct call's time while idle)`,
        ]),
  ];
}
