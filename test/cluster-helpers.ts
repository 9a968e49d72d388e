// Shared by the multi-instance tests (docs/deploy.md): two app instances (production build) on this test
// file's PostgreSQL database and the machine's Redis under a key prefix of their own, behind a real HAProxy
// running deploy/haproxy.cfg, every part on free loopback ports. Users are seeded through the data layer
// (PostgreSQL serves the test process and the instances at once).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { inject } from "vitest";
import { createApiToken } from "../lib/data/api-tokens";
import { publicUserId, signUp } from "../lib/data/users";
import { freePort, PASSWORD, ROOT, type App, type SeededUser } from "./cli-helpers";
import { waitFor } from "./wait";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Why a multi-instance suite does not run: it needs PostgreSQL (instances share one database; the embedded
 * one is single-process), so it runs in the PostgreSQL pass of the integration suite only.
 */
export const clusterSkipReason =
  inject("dbKind") !== "postgres"
    ? "multi-instance tests need PostgreSQL: they run with TEST_DB=postgres (the PGlite pass skips them)"
    : undefined;

export type Instance = {
  name: "a" | "b";
  /** the instance's own address, bypassing HAProxy */
  url: string;
  child: ChildProcess;
  /** as the tunnel rows record it (lib/tunnel/server.ts) */
  instanceId: string;
  logs(): string;
  alive(): boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
};

export type Cluster = {
  /** HAProxy's address: APP_URL of both instances */
  url: string;
  a: Instance;
  b: Instance;
  users: Record<string, SeededUser>;
  redisPrefix: string;
  /** this cluster's view for the CLI helpers: the load balancer's address */
  app: App;
  /** an App addressing one instance directly (same users) */
  via(instance: Instance): App;
  haproxyLogs(): string;
  /** HAProxy's view: { app1: "UP", app2: "DOWN" } (app1 is a, app2 is b) */
  lbStates(): Promise<Record<string, string>>;
  /**
   * Sets an instance's state in HAProxy (its runtime API): "drain" sends it no new connections (sessions
   * already stuck to it keep going there), "ready" takes it back.
   */
  lbSet(instance: Instance, state: "ready" | "drain"): Promise<void>;
  seedUser(name: string): Promise<SeededUser>;
  stop(): Promise<void>;
};

async function seed(name: string): Promise<SeededUser> {
  const email = `${name}-${randomBytes(4).toString("hex")}@cluster.test`;
  const user = await signUp({ email, password: PASSWORD, name });
  const { token } = await createApiToken(user, { name: "test", expiresInDays: undefined });
  return { id: user.id, email, token, publicId: await publicUserId(user.id) };
}

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  let out = "";
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, logs: () => out };
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (exited(child)) return;
  const done = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await done;
  clearTimeout(t);
}

async function healthy(url: string, child: ChildProcess, logs: () => string, what: string) {
  // Start-up on a loaded machine can take minutes; the deadline only catches one that never comes up.
  await waitFor(
    async () => {
      if (exited(child)) throw new Error(`${what} exited early:\n${logs()}`);
      return (await fetch(`${url}/api/health`).catch(() => undefined))?.ok;
    },
    { timeoutMs: 180_000, intervalMs: 200, what: `${what} healthy` },
  );
}

/**
 * Starts the cluster: seeds `names`, then instances a and b (`env` added to both) and HAProxy in front.
 * The instances share this file's database, a fresh Redis prefix, the secrets and APP_URL (HAProxy's).
 */
export async function startCluster(
  names: string[] = ["alice", "bob"],
  env: Record<string, string> = {},
): Promise<Cluster> {
  if (!fs.existsSync(path.join(ROOT, ".next", "BUILD_ID")))
    throw new Error("No production build: run `NEXT_TELEMETRY_DISABLED=1 npx next build` first.");
  if (!process.env.DATABASE_URL) throw new Error("multi-instance tests need TEST_DB=postgres");
  const users: Record<string, SeededUser> = {};
  for (const name of names) users[name] = await seed(name);

  const redisPrefix = `poke-test-${randomBytes(5).toString("hex")}:`;
  const [lbPort, statsPort, portA, portB] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const url = `http://127.0.0.1:${lbPort}`;
  const statsUrl = `http://127.0.0.1:${statsPort}`;
  const shared: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    HOST: "127.0.0.1",
    APP_URL: url,
    ALLOW_PRIVATE_NETWORK: "1",
    REDIS_URL,
    REDIS_PREFIX: redisPrefix,
    TRUSTED_PROXIES: "127.0.0.1",
    LOG_LEVEL: "warn",
    ...env,
  };

  const started: { child: ChildProcess }[] = [];
  const instance = async (name: "a" | "b", port: number): Promise<Instance> => {
    const direct = `http://127.0.0.1:${port}`;
    const p = spawnLogged(process.execPath, ["--import", "tsx", "server.ts", "--no-build"], {
      ...shared,
      PORT: String(port),
    });
    started.push(p);
    await healthy(direct, p.child, p.logs, `instance ${name}`);
    return {
      name,
      url: direct,
      child: p.child,
      instanceId: `${os.hostname()}:${p.child.pid}`,
      logs: p.logs,
      alive: () => !exited(p.child),
      kill: (signal = "SIGTERM") => stopProcess(p.child, signal),
    };
  };

  let lb: ReturnType<typeof spawnLogged> | undefined;
  let adminSocket = "";
  const stopAll = async () => {
    await Promise.all([...started, ...(lb ? [lb] : [])].map((p) => stopProcess(p.child)));
    await clearRedis(redisPrefix);
  };
  try {
    // Both at once: migrations are current (the template was migrated) and start under an advisory lock.
    const [a, b] = await Promise.all([instance("a", portA), instance("b", portB)]);
    // The shipped configuration as it is, plus a stats page for the tests to read HAProxy's view.
    const lbDir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-lb-"));
    const statsCfg = path.join(lbDir, "stats.cfg");
    adminSocket = path.join(lbDir, "admin.sock");
    fs.writeFileSync(
      statsCfg,
      `global\n    stats socket ${adminSocket} mode 600 level admin\n` +
        `frontend stats\n    bind 127.0.0.1:${statsPort}\n    stats enable\n    stats uri /\n    stats refresh 0\n`,
    );
    const deployCfg = path.join(ROOT, "deploy", "haproxy.cfg");
    lb = spawnLogged("haproxy", ["-db", "-f", deployCfg, "-f", statsCfg], {
      ...process.env,
      POKE_LB_BIND: `127.0.0.1:${lbPort}`,
      POKE_APP1: `127.0.0.1:${portA}`,
      POKE_APP2: `127.0.0.1:${portB}`,
      POKE_LB_USER: os.userInfo().username,
      POKE_LB_GROUP: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim(),
    });
    const haproxy = lb;
    await healthy(url, haproxy.child, haproxy.logs, "haproxy");
    // Both servers up in HAProxy's view: its first checks may not have run when the first request passed.
    await waitFor(
      async () => Object.values(await lbServerStates(statsUrl)).filter((s) => s === "UP").length === 2,
      { what: "both instances up behind haproxy", timeoutMs: 60_000 },
    );

    const app = (base: string): App => ({
      url: base,
      users,
      logs: () => `${a.logs()}\n${b.logs()}`,
      stop: async () => {},
    });
    return {
      url,
      a,
      b,
      users,
      redisPrefix,
      app: app(url),
      via: (i) => app(i.url),
      haproxyLogs: haproxy.logs,
      lbStates: () => lbServerStates(statsUrl),
      lbSet: async (i, state) => {
        const server = `poke_instances/${i === a ? "app1" : "app2"}`;
        const answer = await haproxyCommand(adminSocket, `set server ${server} state ${state}`);
        if (answer.trim()) throw new Error(`haproxy refused "${state}" for ${server}: ${answer}`);
      },
      seedUser: async (name) => (users[name] = await seed(name)),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** HAProxy's view of the instances ("UP", "DOWN", …) by server name (app1 = a, app2 = b), from its stats. */
export async function lbServerStates(statsUrl: string): Promise<Record<string, string>> {
  const csv = await (await fetch(`${statsUrl}/;csv`)).text();
  const [head, ...rows] = csv.replace(/^# /, "").trim().split("\n");
  const cols = head.split(",");
  const [px, sv, st] = ["pxname", "svname", "status"].map((c) => cols.indexOf(c));
  const out: Record<string, string> = {};
  for (const r of rows.map((l) => l.split(",")))
    if (r[px] === "poke_instances" && /^app\d+$/.test(r[sv])) out[r[sv]] = r[st];
  return out;
}

/** One command on HAProxy's runtime API (its admin socket); resolves with the answer. */
function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const c = net.connect(socket, () => c.end(`${command}\n`));
    c.on("data", (d) => (out += d));
    c.on("end", () => resolve(out));
    c.on("error", reject);
  });
}

/** Deletes every key under `prefix` (the instances' state of this test file). */
export async function clearRedis(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } catch {
    // Redis gone: nothing to clean.
  } finally {
    r.disconnect();
  }
}
