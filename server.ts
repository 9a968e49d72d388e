// The app's one server process: local secrets → migrations → (build if needed) → Next.js + WebSocket upgrades.
// Every HTTP request goes to Next.js, in development and production alike. Run with `npm start` (production
// build) or `npm run dev`; --no-build starts the existing build as it is.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigError, env, prepareLocalSecrets, setEnvForProcess } from "./lib/env";
import { migrate, openRunner } from "./lib/migrate";
import { shutdown, upgrades } from "./lib/state";
import { isTrustedPeer } from "./lib/auth/client-address";
import { requestIdFor, withRequestId } from "./lib/log";
import { observeRequest } from "./lib/metrics";

const dev = process.argv.includes("--dev");
const SHUTDOWN_MS = 4_000;
const log = (msg: string) => console.log(`poke: ${msg}`);

function fail(msg: string): never {
  console.error(`poke: ${msg}`);
  process.exit(1);
}

/** PGlite is single-process: refuse to open a data directory another live server holds. */
function lockDataDir() {
  const file = path.resolve(env().DATA_DIR, "server.pid");
  try {
    const pid = Number(fs.readFileSync(file, "utf8"));
    if (pid && pid !== process.pid) {
      process.kill(pid, 0); // throws when no such process
      fail(`another Poke server (pid ${pid}) is using ${path.dirname(file)}; stop it or set DATA_DIR`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" && (err as NodeJS.ErrnoException).code !== "ESRCH")
      throw err;
  }
  fs.writeFileSync(file, String(process.pid));
  process.on("exit", () => {
    if (fs.readFileSync(file, "utf8") === String(process.pid)) fs.rmSync(file, { force: true });
  });
}

async function applyMigrations() {
  const { DATABASE_URL, DATA_DIR } = env();
  const dir = path.resolve(DATA_DIR, "pglite");
  let runner;
  try {
    if (!DATABASE_URL) fs.mkdirSync(dir, { recursive: true });
    runner = await openRunner(DATABASE_URL ? { databaseUrl: DATABASE_URL } : { pgliteDir: dir });
  } catch (err) {
    const where = DATABASE_URL
      ? "the PostgreSQL database in DATABASE_URL"
      : `the embedded database in ${dir}`;
    fail(`cannot open ${where}: ${(err as Error).message}`);
  }
  try {
    const applied = await migrate(runner);
    if (applied.length) log(`applied ${applied.length} migration(s): ${applied.join(", ")}`);
  } finally {
    await runner.close();
  }
}

/** A production build is needed when none exists or sources changed since it was made. */
function buildIfNeeded() {
  const buildId = path.resolve(".next/BUILD_ID");
  const built = fs.existsSync(buildId) ? fs.statSync(buildId).mtimeMs : 0;
  const newest = (dir: string): number => {
    if (!fs.existsSync(dir)) return 0;
    if (!fs.statSync(dir).isDirectory()) return fs.statSync(dir).mtimeMs;
    let max = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      max = Math.max(max, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
    }
    return max;
  };
  const sources = Math.max(
    ...["app", "components", "lib", "proxy.ts", "next.config.ts", "instrumentation.ts"].map((d) =>
      newest(path.resolve(d)),
    ),
  );
  if (built && built >= sources) return;
  log(built ? "sources changed: rebuilding…" : "first start: building the app (takes a minute)…");
  const r = spawnSync(process.execPath, [path.resolve("node_modules/next/dist/bin/next"), "build"], {
    stdio: "inherit",
  });
  if (r.status !== 0) fail("build failed");
}

async function main() {
  try {
    const { generated, file } = prepareLocalSecrets();
    if (generated.length) log(`generated ${generated.join(" and ")} into ${file} (keep this file private)`);
    const e = env();
    setEnvForProcess({
      NEXTAUTH_URL: e.APP_URL,
      NEXTAUTH_SECRET: e.SESSION_SECRET,
      NEXT_TELEMETRY_DISABLED: "1",
    });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  if (!env().DATABASE_URL) lockDataDir();
  await applyMigrations();
  if (!dev && !process.argv.includes("--no-build")) buildIfNeeded();

  const { default: next } = await import("next");
  const { PORT, HOST, APP_URL, DATABASE_URL } = env();
  const app = next({ dev, dir: process.cwd(), hostname: HOST, port: PORT });
  await app.prepare();
  const handle = app.getRequestHandler();
  const upgradeNext = dev ? app.getUpgradeHandler() : undefined;

  const server = http.createServer((req, res) => {
    // The connection's peer address, for lib/auth/client-address.ts; whatever a client sent is replaced.
    req.headers["x-poke-peer"] = req.socket.remoteAddress ?? "";
    // One id per request, in the logs and the response (a trusted proxy's own id is kept: lib/log.ts).
    const incoming = req.headers["x-request-id"];
    const id = requestIdFor(
      typeof incoming === "string" ? incoming : undefined,
      isTrustedPeer(req.socket.remoteAddress ?? ""),
    );
    req.headers["x-request-id"] = id;
    res.setHeader("X-Request-Id", id);
    const started = performance.now();
    res.once("close", () =>
      observeRequest(
        req.method ?? "GET",
        req.url ?? "/",
        res.statusCode,
        (performance.now() - started) / 1000,
      ),
    );
    withRequestId(id, () => void handle(req, res));
  });
  server.requestTimeout = 0; // MCP streams (SSE) stay open; per-route limits apply instead
  server.headersTimeout = 30_000;
  // An idle connection stays open 65 s, longer than HAProxy's 60 s keep-alive (deploy/haproxy.cfg), so
  // the proxy, not the app, closes it and never under a request it is sending; agents calling every few
  // seconds keep their connection. Each new connection costs an event-loop turn before it is accepted
  // (one per turn since Node 20), which under load is what a client waits for (bench/README.md).
  server.keepAliveTimeout = 65_000;
  server.on("upgrade", (req, socket, head) => {
    // The tunnel endpoint, registered from inside the Next.js bundle (lib/tunnel/server.ts).
    if (upgrades().handle?.(req, socket, head)) return;
    if (upgradeNext) return void upgradeNext(req, socket, head);
    socket.destroy();
  });
  server.on("error", (err: NodeJS.ErrnoException) =>
    fail(err.code === "EADDRINUSE" ? `port ${PORT} is in use (set PORT)` : err.message),
  );
  server.listen(PORT, HOST, () => {
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : PORT;
    log(
      `ready on ${APP_URL.replace(/:\d+$/, `:${port}`)} (${DATABASE_URL ? "PostgreSQL" : "embedded PGlite"})`,
    );
  });

  // Queued history is written and tunnels are closed before the process ends; a close that hangs does not
  // keep it alive past SHUTDOWN_MS, and a second signal ends it at once.
  const stop = () => {
    server.close();
    setTimeout(() => {
      console.error(`poke: shutdown did not finish within ${SHUTDOWN_MS / 1000} s; exiting`);
      process.exit(1);
    }, SHUTDOWN_MS).unref();
    void shutdown().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
