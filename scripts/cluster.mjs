#!/usr/bin/env node
// `npm run cluster`: the multi-instance set-up of docs/deploy.md on this machine, for trying it — two app
// instances (production build) on PostgreSQL and Redis behind HAProxy (deploy/haproxy.cfg), on one port.
// Ctrl-C stops everything.
//
//   npm run cluster [-- --port 8080] [--instances 2] [--no-build]
//
// DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/poke_cluster; the database is created when
// missing), REDIS_URL (default redis://127.0.0.1:6379) and REDIS_PREFIX (default poke-cluster:) come from
// the environment. SESSION_SECRET and ENCRYPTION_KEYS are generated once into data/cluster/secrets.json
// (mode 0600) and shared by every instance, unless set.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

const ROOT = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "8080" },
    instances: { type: "string", default: "2" },
    "no-build": { type: "boolean", default: false },
  },
});
const LB_PORT = Number(values.port);
const INSTANCES = Number(values.instances);
if (!Number.isInteger(LB_PORT) || LB_PORT < 1 || LB_PORT > 65535) fail(`--port: not a port: ${values.port}`);
if (!Number.isInteger(INSTANCES) || INSTANCES < 1 || INSTANCES > 8) fail("--instances: 1 to 8");

const DATABASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/poke_cluster";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const REDIS_PREFIX = process.env.REDIS_PREFIX ?? "poke-cluster:";
const DATA_DIR = path.join(ROOT, "data", "cluster");
const APP_URL = process.env.APP_URL ?? `http://localhost:${LB_PORT}`;

function fail(msg) {
  console.error(`cluster: ${msg}`);
  process.exit(1);
}
const log = (msg) => console.log(`cluster: ${msg}`);

/** Secrets every instance shares (each must decrypt what another wrote), kept for the next start. */
function secrets() {
  if (process.env.SESSION_SECRET && process.env.ENCRYPTION_KEYS)
    return { SESSION_SECRET: process.env.SESSION_SECRET, ENCRYPTION_KEYS: process.env.ENCRYPTION_KEYS };
  fs.mkdirSync(DATA_DIR, { recursive: true, mode: 0o700 });
  const file = path.join(DATA_DIR, "secrets.json");
  let s = {};
  if (fs.existsSync(file)) s = JSON.parse(fs.readFileSync(file, "utf8"));
  else {
    s = {
      SESSION_SECRET: randomBytes(32).toString("base64url"),
      ENCRYPTION_KEYS: `k1:${randomBytes(32).toString("base64")}`,
    };
    fs.writeFileSync(file, JSON.stringify(s, null, 2), { mode: 0o600 });
    log(`generated SESSION_SECRET and ENCRYPTION_KEYS into ${path.relative(ROOT, file)} (keep it private)`);
  }
  return {
    SESSION_SECRET: process.env.SESSION_SECRET ?? s.SESSION_SECRET,
    ENCRYPTION_KEYS: process.env.ENCRYPTION_KEYS ?? s.ENCRYPTION_KEYS,
  };
}

/** Creates DATABASE_URL's database when it does not exist (connecting to the server's `postgres` db). */
async function ensureDatabase() {
  const { default: pg } = await import("pg");
  const url = new URL(DATABASE_URL);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) fail(`DATABASE_URL: unusable database name "${name}"`);
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.href });
  try {
    await admin.connect();
  } catch (err) {
    fail(`cannot reach PostgreSQL at ${url.host}: ${err.message} (set DATABASE_URL)`);
  }
  try {
    const r = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!r.rowCount) {
      await admin.query(`CREATE DATABASE "${name}"`);
      log(`created database ${name}`);
    }
  } finally {
    await admin.end();
  }
}

/** Redis answers PING (one RESP exchange on a plain socket; the app itself uses ioredis). */
function checkRedis() {
  const url = new URL(REDIS_URL);
  if (url.protocol !== "redis:") return Promise.resolve(); // TLS or auth: the instances will say
  return new Promise((resolve) => {
    const s = net.connect(Number(url.port || 6379), url.hostname);
    const t = setTimeout(() => s.destroy(new Error("no answer")), 3000);
    s.once("connect", () => s.write("PING\r\n"));
    s.once("data", () => {
      clearTimeout(t);
      s.end();
      resolve();
    });
    s.once("error", (err) => fail(`cannot reach Redis at ${url.host}: ${err.message} (set REDIS_URL)`));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const children = [];
let stopping = false;

/** Starts a child whose output lines are printed with `tag`; its unexpected exit stops everything. */
function start(tag, cmd, args, env) {
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [child.stdout, child.stderr]) {
    let buf = "";
    stream.on("data", (d) => {
      buf += d;
      const lines = buf.split("\n");
      buf = lines.pop();
      for (const l of lines) console.log(`[${tag}] ${l}`);
    });
  }
  child.on("exit", (code, signal) => {
    if (stopping) return;
    console.error(`cluster: ${tag} exited (${signal ?? code}); stopping everything`);
    void stopAll(1);
  });
  children.push(child);
  return child;
}

async function stopAll(code = 0) {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => c.kill("SIGKILL"), 10_000);
          c.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          c.kill("SIGTERM");
        }),
    ),
  );
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

async function healthy(url, child, what) {
  // The first start may build the app (minutes); the deadline only catches one that never comes up.
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) fail(`${what} exited before it became healthy`);
    try {
      const r = await fetch(`${url}/api/health`);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  fail(`${what} did not become healthy`);
}

try {
  execFileSync("haproxy", ["-v"], { stdio: "ignore" });
} catch {
  fail("haproxy is not installed (Debian: apt-get install haproxy)");
}
await ensureDatabase();
await checkRedis();
const shared = {
  ...process.env,
  ...secrets(),
  NODE_ENV: "production",
  NEXT_TELEMETRY_DISABLED: "1",
  DATABASE_URL,
  REDIS_URL,
  REDIS_PREFIX,
  APP_URL,
  HOST: "127.0.0.1",
  DATA_DIR,
  // The instances see HAProxy as their peer and believe its X-Forwarded-For.
  TRUSTED_PROXIES: process.env.TRUSTED_PROXIES ?? "127.0.0.1",
};

const lbEnv = {
  ...process.env,
  POKE_LB_BIND: `127.0.0.1:${LB_PORT}`,
  POKE_LB_USER: os.userInfo().username,
  POKE_LB_GROUP: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim(),
};
const servers = [];
for (let i = 1; i <= INSTANCES; i++) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // The first instance builds the app when the build is missing or stale and applies migrations; the
  // others start once it is healthy, on that build.
  const build = i === 1 && !values["no-build"] ? [] : ["--no-build"];
  const child = start(`app${i}`, process.execPath, ["--import", "tsx", "server.ts", ...build], {
    ...shared,
    PORT: String(port),
  });
  if (i === 1) await healthy(url, child, "app1");
  servers.push({ i, port, url, child });
  lbEnv[`POKE_APP${i}`] = `127.0.0.1:${port}`;
}
await Promise.all(servers.map((s) => healthy(s.url, s.child, `app${s.i}`)));

// deploy/haproxy.cfg names app1 and app2; more instances get a generated copy with one line each.
let cfg = path.join(ROOT, "deploy", "haproxy.cfg");
if (INSTANCES !== 2) {
  const text = fs
    .readFileSync(cfg, "utf8")
    .replace(/^\s*server app\d+ .*\n/gm, "")
    .concat(servers.map((s) => `    server app${s.i} "\${POKE_APP${s.i}}"\n`).join(""));
  cfg = path.join(DATA_DIR, "haproxy.cfg");
  fs.writeFileSync(cfg, text);
}
const lb = start("haproxy", "haproxy", ["-db", "-f", cfg], lbEnv);
await healthy(`http://127.0.0.1:${LB_PORT}`, lb, "haproxy");

log(
  `${INSTANCES} instance(s) on PostgreSQL (${new URL(DATABASE_URL).pathname.slice(1)}) and Redis behind HAProxy`,
);
for (const s of servers) log(`  app${s.i}: ${s.url}`);
log(`ready on ${APP_URL} — Ctrl-C stops everything`);
