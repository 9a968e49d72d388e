// The app's one server process: local secrets → migrations → (build if needed) → Next.js + WebSocket upgrades.
// Run with `npm start` (production build) or `npm run dev`. Flags: --no-build, --next-routing (see below).
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigError, env, prepareLocalSecrets, setEnvForProcess } from "./lib/env";
import { migrate, openRunner } from "./lib/migrate";
import type { DirectRoute } from "./app/api/v1/direct-routes";

const dev = process.argv.includes("--dev");
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
    let max = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      max = Math.max(max, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
    }
    return max;
  };
  const sources = Math.max(...["app", "components", "lib"].map((d) => newest(path.resolve(d))));
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

  // --next-routing: every request through Next.js (to compare, or to rule the direct path out).
  const direct = dev || process.argv.includes("--next-routing") ? undefined : directRoutes();
  const server = http.createServer((req, res) => {
    if (direct?.(req, res)) return;
    void handle(req, res);
  });
  server.requestTimeout = 0; // MCP streams (SSE) stay open; per-route limits apply instead
  server.headersTimeout = 30_000;
  server.on("upgrade", (req, socket, head) => {
    // The tunnel endpoint registers itself on globalThis from inside the Next.js bundle.
    const hook = (globalThis as { __pokeUpgrade?: (r: typeof req, s: typeof socket, h: Buffer) => boolean })
      .__pokeUpgrade;
    if (hook?.(req, socket, head)) return;
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

  const stop = () => {
    server.close();
    setTimeout(() => process.exit(0), 2000).unref();
    (globalThis as { __pokeShutdown?: () => Promise<void> })
      .__pokeShutdown?.()
      .finally(() => process.exit(0));
    if (!(globalThis as { __pokeShutdown?: unknown }).__pokeShutdown) process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

// ---------------------------------------------------------------------------------------------------------
// The direct path for JSON API routes (app/api/v1/direct-routes.ts): a route file that Next.js has loaded
// registers its handlers on globalThis, and matching requests go straight to them. Next.js's routing would
// otherwise add, per request, about as much as the whole call it carries (bench/README.md). What Next.js
// adds around a route handler is reproduced from the build's own manifests (the configured response headers
// and the App Router's Vary header), and the direct path stays off whenever the build has anything it does
// not reproduce (middleware, rewrites, a base path, conditional headers) or a redirect could apply to the
// path. test/api-direct-routes.test.ts compares its answers with Next.js's, header for header.

type RoutesManifest = {
  basePath?: string;
  headers?: { regex: string; headers: { key: string; value: string }[]; has?: unknown; missing?: unknown }[];
  redirects?: { regex: string }[];
  rewrites?: unknown;
  rsc?: { varyHeader?: string };
};

/** Largest request body read ahead into memory; longer ones are streamed to the handler (its caps apply). */
const DIRECT_BUFFER_MAX = 1024 * 1024;

function directRoutes(): ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | undefined {
  const read = <T>(file: string): T | undefined => {
    try {
      return JSON.parse(fs.readFileSync(path.resolve(".next", file), "utf8")) as T;
    } catch {
      return undefined;
    }
  };
  const manifest = read<RoutesManifest>("routes-manifest.json");
  const middleware = read<{ middleware?: object; functions?: object }>("server/middleware-manifest.json");
  const rewrites = manifest?.rewrites;
  const hasRewrites = Array.isArray(rewrites)
    ? rewrites.length > 0
    : Object.values((rewrites ?? {}) as Record<string, unknown[]>).some((r) => r.length > 0);
  if (
    !manifest ||
    !middleware ||
    manifest.basePath ||
    hasRewrites ||
    Object.keys(middleware.middleware ?? {}).length ||
    Object.keys(middleware.functions ?? {}).length ||
    (manifest.headers ?? []).some((h) => h.has || h.missing)
  ) {
    log(
      "API requests go through Next.js routing (the build has middleware, rewrites or conditional headers)",
    );
    return undefined;
  }
  const headerRules = (manifest.headers ?? []).map((h) => ({ re: new RegExp(h.regex), headers: h.headers }));
  const redirects = (manifest.redirects ?? []).map((r) => new RegExp(r.regex));
  // Next.js varies every App Router response on its RSC request headers.
  const vary = manifest.rsc?.varyHeader;
  const { HOST, PORT } = env();
  const routes = ((globalThis as { __pokeDirectRoutes?: Map<string, DirectRoute> }).__pokeDirectRoutes ??=
    new Map());

  const match = (pathname: string) => {
    const parts = pathname.split("/").slice(1);
    let best: { route: DirectRoute; params: Record<string, string>; dynamic: number } | undefined;
    for (const route of routes.values()) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let dynamic = 0;
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = route.segments[i];
        if (seg.startsWith("[")) {
          if (!parts[i]) ok = false;
          else {
            try {
              params[seg.slice(1, -1)] = decodeURIComponent(parts[i]);
              dynamic++;
            } catch {
              ok = false; // malformed escapes: Next.js answers those itself
            }
          }
        } else ok = parts[i] === seg;
      }
      // A literal segment wins over a parameter, as in Next.js's own matching.
      if (ok && (!best || dynamic < best.dynamic)) best = { route, params, dynamic };
    }
    return best;
  };

  return (req, res) => {
    const rawUrl = req.url ?? "";
    if (!rawUrl.startsWith("/api/v1/") || routes.size === 0) return false;
    const q = rawUrl.indexOf("?");
    const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    // Anything a URL parser would rewrite (dot segments, doubled or encoded slashes) goes through Next.js.
    if (
      pathname.endsWith("/") ||
      pathname.includes("//") ||
      /%2f|%5c|\\|\/(?:\.|%2e){1,2}(?:\/|$)/i.test(pathname)
    )
      return false;
    const found = match(pathname);
    const handler = found?.route.handlers[req.method ?? ""];
    if (!found || !handler || redirects.some((re) => re.test(pathname))) return false;
    void serveDirect(req, res, pathname, found.params, handler).catch((err) => {
      console.error(`poke: direct route ${pathname} failed:`, err);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
    return true;
  };

  async function serveDirect(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
    params: Record<string, string>,
    handler: DirectRoute["handlers"][string],
  ) {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i];
      if (!name.startsWith(":")) headers.append(name, req.rawHeaders[i + 1]);
    }
    const ac = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) ac.abort();
    });
    let body: BodyInit | undefined;
    let duplex: "half" | undefined;
    if (req.method !== "GET" && req.method !== "HEAD") {
      const declared = Number(req.headers["content-length"]);
      if (Number.isInteger(declared) && declared <= DIRECT_BUFFER_MAX) {
        body = (await readBody(req)) as unknown as BodyInit;
      } else {
        body = req as unknown as ReadableStream; // undici accepts an async iterable with duplex: "half"
        duplex = "half";
      }
    }
    const url = `http://${req.headers.host ?? `${HOST}:${PORT}`}${req.url}`;
    const request = new Request(url, {
      method: req.method,
      headers,
      body,
      duplex,
      signal: ac.signal,
    } as RequestInit);
    const response = await handler(request, params);

    // Headers from next.config first; the handler's own win, as under Next.js.
    if (vary) res.setHeader("vary", vary);
    for (const rule of headerRules) {
      if (rule.re.test(pathname)) for (const h of rule.headers) res.setHeader(h.key, h.value);
    }
    response.headers.forEach((value, key) => {
      if (key !== "set-cookie") res.setHeader(key, value);
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length) res.setHeader("set-cookie", cookies);
    res.statusCode = response.status;
    if (response.statusText) res.statusMessage = response.statusText;
    // One write: status line, headers and the (complete JSON) body together.
    const buf = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
    if (buf) res.setHeader("content-length", buf.length);
    res.end(req.method === "HEAD" ? undefined : buf);
  }
}

/** A request body whose declared length is small, read whole (events: cheaper than async iteration). */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
