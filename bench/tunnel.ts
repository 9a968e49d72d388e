// Benchmark: tools/call round trip through `poke tunnel` vs directly to the same local server.
//   npx tsx bench/tunnel.ts [N]
// This process hosts the app's tunnel endpoint (lib/tunnel/server.ts, the same code the app installs)
// on a loopback HTTP server with a throw-away embedded database; the REAL CLI (`node cli/poke.mjs tunnel`)
// dials it. Both clients are v2 SDK clients on one pooled session: "direct" fetches the fixture, "tunnel"
// uses the engine's in-process tunnel fetch (lib/tunnel/fetch.ts). Calls alternate so drift hits both.
// Target: added p50 ≤ 3 ms on loopback. Writes the summary to bench/results/tunnel.md.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { prepareLocalSecrets, setEnvForProcess } from "../lib/env";
import { migrate, openRunner } from "../lib/migrate";
import { upgrades } from "../lib/state";
import { startMcpServer } from "../test/fixtures/mcp-servers";

const N = Number(process.argv[2] ?? 500);
const WARMUP = 50;
const root = path.resolve(import.meta.dirname, "..");

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-bench-tunnel-"));
  const port = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const appUrl = `http://127.0.0.1:${port}`;
  setEnvForProcess({
    DATA_DIR: dir,
    APP_URL: appUrl,
    ALLOW_PRIVATE_NETWORK: "1",
    LOG_LEVEL: "warn",
    NODE_ENV: "test",
  });
  prepareLocalSecrets();
  fs.mkdirSync(path.join(dir, "pglite"));
  const runner = await openRunner({ pgliteDir: path.join(dir, "pglite") });
  await migrate(runner);
  await runner.close();

  const { signUp } = await import("../lib/data/users");
  const { createApiToken } = await import("../lib/data/api-tokens");
  const { installTunnelEndpoint } = await import("../lib/tunnel/server");
  const { createTunnelFetch } = await import("../lib/tunnel/fetch");
  const { closeDb, getDb } = await import("../lib/db");
  const user = await signUp({
    email: "bench@poke.test",
    password: "correct horse battery staple",
    name: "bench",
  });
  const { token } = await createApiToken(user, { name: "bench", expiresInDays: undefined });

  installTunnelEndpoint();
  const server = http.createServer((_q, s) => s.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => {
    if (!upgrades().handle?.(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));

  const fixture = await startMcpServer({ mode: "sessionful" });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "poke-bench-cfg-"));
  const cli = spawn(
    process.execPath,
    [path.join(root, "cli/poke.mjs"), "tunnel", fixture.url, "-n", "bench"],
    {
      cwd: root,
      env: { ...process.env, XDG_CONFIG_HOME: home, POKE_URL: appUrl, POKE_TOKEN: token },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  cli.stdout.on("data", (d) => (out += d));
  for (let i = 0; !/Tunnel online/.test(out); i++) {
    if (i > 600 || cli.exitCode !== null) throw new Error(`tunnel did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const db = await getDb();
  const integ = await db.integration.findFirstOrThrow({ where: { userId: user.id, name: "bench" } });

  const connect = async (url: string, fetchFn?: typeof fetch) => {
    const c = new Client({ name: "bench", version: "1" });
    await c.connect(new StreamableHTTPClientTransport(new URL(url), fetchFn ? { fetch: fetchFn } : {}));
    return c;
  };
  const direct = await connect(fixture.url);
  const tunneled = await connect(integ.url, createTunnelFetch(user.id, integ.tunnelId!) as typeof fetch);

  const args = { name: "echo", arguments: { text: "benchmark payload" } };
  for (let i = 0; i < WARMUP; i++) {
    await direct.callTool(args);
    await tunneled.callTool(args);
  }
  const td: number[] = [];
  const tt: number[] = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    await direct.callTool(args);
    td.push(performance.now() - t);
    t = performance.now();
    await tunneled.callTool(args);
    tt.push(performance.now() - t);
  }
  const q = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  const f = (x: number) => x.toFixed(2);
  const added = q(tt, 0.5) - q(td, 0.5);
  const lines = [
    `# Tunnel benchmark`,
    ``,
    `tools/call round trip (echo), N=${N} per path after ${WARMUP} warm-up calls, alternating; v2 SDK client,`,
    `pooled session; loopback; Node ${process.version}; ${new Date().toISOString()}.`,
    ``,
    `| path | p50 (ms) | p99 (ms) |`,
    `|---|---|---|`,
    `| direct to the local server | ${f(q(td, 0.5))} | ${f(q(td, 0.99))} |`,
    `| through poke tunnel (engine fetch → WebSocket → CLI → local server) | ${f(q(tt, 0.5))} | ${f(q(tt, 0.99))} |`,
    ``,
    `Added p50: **${f(added)} ms** (target ≤ 3 ms) — ${added <= 3 ? "PASS" : "FAIL"}.`,
    ``,
  ];
  console.log(lines.join("\n"));
  fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
  fs.writeFileSync(path.join(root, "bench/results/tunnel.md"), lines.join("\n"));

  await direct.close();
  await tunneled.close();
  cli.kill("SIGINT");
  await new Promise((r) => cli.once("exit", r));
  server.close();
  await fixture.close();
  await closeDb();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
