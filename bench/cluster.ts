// Scale-out benchmark (docs/deploy.md): 200 concurrent agent clients (20 users × 10, 20 integrations each,
// SDK v2 clients over Streamable HTTP in 4 load-generator processes of their own) calling `whoami` on 20
// fixture servers (their own process) through the production app: one instance, then two instances behind
// HAProxy (deploy/haproxy.cfg), on the same PostgreSQL database, Redis and fixtures, in one run.
// Targets: two instances ≥ 1.3 × one instance's throughput; 0 errors; 0 responses carrying another user's id.
//
//   flock /tmp/poke-next.lock npx tsx bench/cluster.ts [--per-caller 30] [--no-write]
//
// Needs a production build (.next), PostgreSQL (BENCH_PG_URL; a scratch database, dropped after), Redis
// (BENCH_REDIS_URL, default redis://127.0.0.1:6379; keys under a fresh prefix, deleted after) and haproxy.
// Writes the summary to bench/results/cluster.md.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { ownConnections } from "./own-connections";

const { values } = parseArgs({
  options: {
    "per-caller": { type: "string" },
    "no-write": { type: "boolean" },
    worker: { type: "boolean" },
  },
});
const USERS = 20;
const CALLERS_PER_USER = 10;
const SERVERS = 20;
const WORKERS = 4;
const PER_CALLER = Math.min(Math.max(Number(values["per-caller"] ?? 30) || 30, 5), 500);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

// ---------------------------------------------------------------------------------------------------------
// Load generator process: `tsx bench/cluster.ts --worker`, one JSON job on stdin per round, one JSON line
// of results on stdout per round. It imports nothing of the app.

type Job = {
  url: string;
  callers: { token: string; publicId: string }[];
  perCaller: number;
};
type WorkerResult = { latencies: number[]; errors: number; crossUser: number; firstError?: string };

async function worker(): Promise<void> {
  const clients = new Map<string, Client>(); // one client per caller slot, kept across rounds per URL
  const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const next = async () => (await input.next()).value as string | undefined;
  for (let line = await next(); line !== undefined; line = await next()) {
    const job = JSON.parse(line) as Job | { close: true };
    if ("close" in job) break;
    // Connect (or reuse) every caller's client and learn its tool names before the clock starts.
    const callers = await Promise.all(
      job.callers.map(async (c, i) => {
        const key = `${job.url} ${i}`;
        let client = clients.get(key);
        // Connecting is a safe read: a reset connection (a loaded machine) is retried, never a call.
        for (let attempt = 1; !client; attempt++) {
          const fresh = new Client(
            { name: "bench-cluster", version: "1.0.0" },
            { versionNegotiation: { mode: "auto" } },
          );
          try {
            await fresh.connect(
              new StreamableHTTPClientTransport(new URL(job.url), {
                authProvider: { token: async () => c.token },
                fetch: ownConnections(),
              }),
            );
            clients.set(key, (client = fresh));
          } catch (err) {
            if (attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 500 * attempt));
          }
        }
        let tools: { name: string }[] = [];
        for (let attempt = 1; ; attempt++) {
          try {
            ({ tools } = await client.listTools());
            break;
          } catch (err) {
            if (attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 500 * attempt));
          }
        }
        const whoami = tools.map((t) => t.name).filter((n) => n.endsWith("__whoami"));
        return { ...c, client, whoami };
      }),
    );
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    await next(); // "go"
    const result: WorkerResult = { latencies: [], errors: 0, crossUser: 0 };
    await Promise.all(
      callers.map(async (c, n) => {
        for (let i = 0; i < job.perCaller; i++) {
          const name = c.whoami[(n * 7 + i * 3) % c.whoami.length]; // every caller visits every server
          const t0 = performance.now();
          try {
            const r = await c.client.callTool({ name, arguments: {} }, { timeout: 60_000 });
            const ms = performance.now() - t0;
            if (r.isError) throw new Error(JSON.stringify(r.content).slice(0, 300));
            const text = (r.content as { type: string; text: string }[])[0]?.text ?? "{}";
            if (JSON.parse(text).userId !== c.publicId) result.crossUser++;
            result.latencies.push(ms);
          } catch (err) {
            result.errors++;
            result.firstError ??= String(err).slice(0, 300);
          }
        }
      }),
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  await Promise.all([...clients.values()].map((c) => c.close().catch(() => {})));
  process.exit(0);
}

if (values.worker) await worker();

// ---------------------------------------------------------------------------------------------------------
// Coordinator

const {
  BENCH_SECRETS,
  fmt,
  freePort,
  freshDatabase,
  percentile,
  removeDatabase,
  ROOT,
  startFixtures,
  stopper,
} = await import("./lib");

const lines: string[] = [];
const say = (s = "") => {
  lines.push(s);
  console.log(s);
};

type Proc = { proc: ChildProcess; out: () => string; stop(): Promise<void> };

function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const proc = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out = (out + d).slice(-20_000)));
  proc.stderr!.on("data", (d) => (out = (out + d).slice(-20_000)));
  return { proc, out: () => out, stop: stopper(proc) };
}

async function healthy(url: string, p: Proc, what: string): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (p.proc.exitCode !== null) throw new Error(`${what} exited:\n${p.out()}`);
    const r = await fetch(`${url}/api/health`).catch(() => undefined);
    if (r?.ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not become healthy:\n${p.out()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine (every core; idle and I/O wait left out), from /proc/stat. */
function machineBusySeconds(): number {
  const [, ...ticks] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
  const n = ticks.slice(0, 8).map(Number); // user nice system idle iowait irq softirq steal
  return (n.reduce((a, b) => a + b, 0) - n[3] - n[4]) / 100;
}

type Setup = { url: string; procs: { name: string; p: Proc }[]; stop(): Promise<void> };

async function startSetup(instances: 1 | 2, prefix: string): Promise<Setup> {
  const lbPort = await freePort();
  const ports = [await freePort(), await freePort()].slice(0, instances);
  const appUrl = instances === 1 ? `http://127.0.0.1:${ports[0]}` : `http://127.0.0.1:${lbPort}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...BENCH_SECRETS,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    HOST: "127.0.0.1",
    APP_URL: appUrl,
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    ALLOW_PRIVATE_NETWORK: "1",
    TRUSTED_PROXIES: "127.0.0.1",
    LOG_LEVEL: "warn",
    // 10 callers per user in tight loops far exceed the default 10 calls/s per user: this measures the
    // platform under load, not the rate limiter (which still runs, on Redis). Concurrency stays at 20.
    CALL_RATE_PER_SEC: "100000",
    CALL_BURST: "100000",
  };
  const procs: Setup["procs"] = [];
  const stop = async () => {
    await Promise.all(procs.map(({ p }) => p.stop()));
  };
  try {
    for (const [i, port] of ports.entries()) {
      const p = launch(process.execPath, ["--import", "tsx", "server.ts", "--no-build"], {
        ...env,
        PORT: String(port),
      });
      procs.push({ name: `instance ${i + 1}`, p });
    }
    await Promise.all(
      procs.map(({ p }, i) => healthy(`http://127.0.0.1:${ports[i]}`, p, `instance ${i + 1}`)),
    );
    if (instances === 2) {
      const lb = launch("haproxy", ["-db", "-f", path.join(ROOT, "deploy/haproxy.cfg")], {
        ...process.env,
        POKE_LB_BIND: `127.0.0.1:${lbPort}`,
        POKE_APP1: `127.0.0.1:${ports[0]}`,
        POKE_APP2: `127.0.0.1:${ports[1]}`,
        POKE_LB_USER: os.userInfo().username,
        POKE_LB_GROUP: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim(),
      });
      procs.push({ name: "haproxy", p: lb });
      await healthy(appUrl, lb, "haproxy");
      // Let HAProxy's health checks see both instances up before traffic (rise 2, inter 1 s).
      await new Promise((r) => setTimeout(r, 3000));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `${appUrl}/api/mcp`, procs, stop };
}

type Worker = { proc: ChildProcess; lines: AsyncIterator<string>; stop(): Promise<void> };

function startWorker(): Worker {
  const proc = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/cluster.ts"), "--worker"], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const rl = readline.createInterface({ input: proc.stdout! });
  return { proc, lines: rl[Symbol.asyncIterator](), stop: stopper(proc) };
}

async function nextLine<T>(w: Worker): Promise<T> {
  const { value, done } = await w.lines.next();
  if (done) throw new Error("load generator exited");
  return JSON.parse(value) as T;
}

type RoundResult = WorkerResult & {
  seconds: number;
  cpu: Record<string, number>;
  /** CPU seconds of the load-generator processes, and of the whole machine, during the round. */
  loadCpu: number;
  machineCpu: number;
};

async function round(
  setup: Setup,
  workers: Worker[],
  callers: Job["callers"],
  perCaller: number,
): Promise<RoundResult> {
  const share = (w: number) => callers.filter((_, i) => i % workers.length === w);
  workers.forEach((w, i) =>
    w.proc.stdin!.write(`${JSON.stringify({ url: setup.url, callers: share(i), perCaller })}\n`),
  );
  await Promise.all(workers.map((w) => nextLine(w))); // connected, tools listed
  const cpu0 = setup.procs.map(({ p }) => cpuSeconds(p.proc.pid));
  const loadCpu = () => workers.reduce((n, w) => n + cpuSeconds(w.proc.pid), 0);
  const load0 = loadCpu();
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  workers.forEach((w) => w.proc.stdin!.write("go\n"));
  const results = await Promise.all(workers.map((w) => nextLine<WorkerResult>(w)));
  const seconds = (performance.now() - t0) / 1000;
  const machineCpu = machineBusySeconds() - machine0;
  const cpu = Object.fromEntries(
    setup.procs.map(({ name, p }, i) => [name, cpuSeconds(p.proc.pid) - cpu0[i]]),
  );
  return {
    latencies: results.flatMap((r) => r.latencies),
    errors: results.reduce((n, r) => n + r.errors, 0),
    crossUser: results.reduce((n, r) => n + r.crossUser, 0),
    firstError: results.find((r) => r.firstError)?.firstError,
    seconds,
    cpu,
    loadCpu: loadCpu() - load0,
    machineCpu,
  };
}

async function seedUsers(urls: string[]): Promise<Job["callers"]> {
  const { createApiToken } = await import("@/lib/data/api-tokens");
  const { publicUserId } = await import("@/lib/data/users");
  const { syncIntegration } = await import("@/lib/mcp/sync");
  const { createIntegrationRow, createUser } = await import("./lib");
  const callers: Job["callers"] = [];
  for (let u = 0; u < USERS; u++) {
    const user = await createUser();
    const { token } = await createApiToken(user, { name: "bench", expiresInDays: undefined });
    for (const url of urls) await syncIntegration(user.id, await createIntegrationRow(user.id, url));
    const publicId = await publicUserId(user.id);
    for (let c = 0; c < CALLERS_PER_USER; c++) callers.push({ token, publicId });
  }
  return callers;
}

async function clearRedis(prefix: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

if (!fs.existsSync(path.join(ROOT, ".next/BUILD_ID")))
  throw new Error("No production build: run `flock /tmp/poke-next.lock npx next build` first.");
const started = new Date();
const load0 = os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(" / ");
const dir = await freshDatabase("cluster", { postgres: true });
const prefix = `poke-bench-${randomBytes(4).toString("hex")}:`;
const fixtures = await startFixtures({ count: SERVERS });
const workers = Array.from({ length: WORKERS }, startWorker);
const runs: { label: string; r: RoundResult }[] = [];
try {
  const callers = await seedUsers(fixtures.urls);
  const { closeDb } = await import("@/lib/db");
  await closeDb();
  for (const instances of [1, 2] as const) {
    const setup = await startSetup(instances, prefix);
    try {
      await round(setup, workers, callers, 5); // warm-up: JIT, pooled upstream sessions, connections
      const r = await round(setup, workers, callers, PER_CALLER);
      const label = instances === 1 ? "one instance" : "two instances behind HAProxy";
      runs.push({ label, r });
      console.log(`${label}: ${fmt(r.latencies.length / r.seconds, 0)} calls/s, ${r.errors} errors`);
      if (r.firstError) console.error("first error:", r.firstError);
    } finally {
      await setup.stop();
    }
  }
} finally {
  for (const w of workers) w.proc.stdin!.end(`${JSON.stringify({ close: true })}\n`);
  await Promise.all(workers.map((w) => w.stop()));
  await fixtures.stop();
  await removeDatabase(dir);
  await clearRedis(prefix).catch(() => {});
}

const [one, two] = runs.map(({ r }) => r);
const throughput = (r: RoundResult) => r.latencies.length / r.seconds;
const ratio = throughput(two) / throughput(one);
const errors = one.errors + two.errors;
const cross = one.crossUser + two.crossUser;
say("# Scale-out benchmark: one instance vs two behind HAProxy");
say();
say(
  `${started.toISOString().slice(0, 16).replace("T", " ")} UTC · ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Node ${process.version}, PostgreSQL + Redis, load average at start ${load0}, at end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ")}.`,
);
say(
  `Run: \`npx tsx bench/cluster.ts --per-caller ${PER_CALLER}\` — ${USERS * CALLERS_PER_USER} concurrent agent clients (${USERS} users × ${CALLERS_PER_USER}) in ${WORKERS} load-generator processes, ${SERVERS} integrations per user on ${SERVERS} fixture servers in their own process, ${PER_CALLER} \`whoami\` calls per client after a warm-up round of 5.`,
);
say();
say(
  "| set-up | calls | calls/s | p50 (ms) | p99 (ms) | errors | cross-user | CPU s (each process) | CPU s (load generators) | machine busy (cores of " +
    os.cpus().length +
    ") |",
);
say("|---|---|---|---|---|---|---|---|---|---|");
for (const { label, r } of runs) {
  const cpu = Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${fmt(v, 1)}`)
    .join(", ");
  say(
    `| ${label} | ${r.latencies.length} | ${fmt(throughput(r), 0)} | ${fmt(percentile(r.latencies, 50), 0)} | ${fmt(percentile(r.latencies, 99), 0)} | ${r.errors} | ${r.crossUser} | ${cpu} | ${fmt(r.loadCpu, 1)} | ${fmt(r.machineCpu / r.seconds, 2)} |`,
  );
}
say();
say(
  `Two instances / one instance throughput: ${fmt(ratio)}× (target ≥ 1.3): ${ratio >= 1.3 ? "**met**" : "**missed**"}.`,
);
say(`Errors: ${errors} (target 0): ${errors === 0 ? "**met**" : "**missed**"}.`);
say(`Responses carrying another user's id: ${cross} (target 0): ${cross === 0 ? "**met**" : "**missed**"}.`);
if (!values["no-write"]) {
  const file = path.join(ROOT, "bench/results/cluster.md");
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  execFileSync(path.join(ROOT, "node_modules/.bin/prettier"), ["--write", file], { stdio: "ignore" });
  console.log("\nwrote bench/results/cluster.md");
}
process.exit(0);
