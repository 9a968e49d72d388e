// Benchmark: `poke proxy` (stdio → Streamable HTTP) vs supergateway serving the same stdio server.
//   npx tsx bench/proxy.ts [N]
// Same stdio fixture (test/fixtures/stdio-server.ts), same v2 SDK client and calls, both sessionful
// (supergateway --stateful). Calls alternate between the two so load drift hits both equally.
// Target: p50 ratio poke/supergateway ≤ 1.0. Writes the summary to bench/results/proxy.md.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const N = Number(process.argv[2] ?? 500);
const WARMUP = 50;
const root = path.resolve(import.meta.dirname, "..");
const STDIO = [process.execPath, "--import", "tsx", "test/fixtures/stdio-server.ts"];

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

async function waitUp(url: string, child: ChildProcess) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited`);
    try {
      await fetch(url, { method: "GET" });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

async function main() {
  const pokePort = await freePort();
  const sgPort = await freePort();
  const poke = spawn(
    process.execPath,
    [path.join(root, "cli/poke.mjs"), "proxy", "--port", String(pokePort), "--", ...STDIO],
    { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
  );
  const sg = spawn(
    process.execPath,
    [
      path.join(root, "node_modules/supergateway/dist/index.js"),
      "--stdio",
      STDIO.join(" "),
      "--port",
      String(sgPort),
      "--outputTransport",
      "streamableHttp",
      "--stateful",
      "--logLevel",
      "none",
    ],
    { cwd: root, stdio: ["ignore", "ignore", "inherit"] },
  );
  try {
    await waitUp(`http://127.0.0.1:${pokePort}/mcp`, poke);
    await waitUp(`http://127.0.0.1:${sgPort}/mcp`, sg);
    const connect = async (port: number) => {
      const c = new Client({ name: "bench", version: "1" });
      await c.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
      return c;
    };
    const a = await connect(pokePort);
    const b = await connect(sgPort);
    const args = { name: "echo", arguments: { text: "benchmark payload" } };
    for (let i = 0; i < WARMUP; i++) {
      await a.callTool(args);
      await b.callTool(args);
    }
    const ta: number[] = [];
    const tb: number[] = [];
    for (let i = 0; i < N; i++) {
      let t = performance.now();
      await a.callTool(args);
      ta.push(performance.now() - t);
      t = performance.now();
      await b.callTool(args);
      tb.push(performance.now() - t);
    }
    const q = (xs: number[], p: number) =>
      [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    const f = (x: number) => x.toFixed(2);
    const ratio = q(ta, 0.5) / q(tb, 0.5);
    const lines = [
      `# Proxy benchmark (stdio → Streamable HTTP)`,
      ``,
      `tools/call (echo) on the stdio fixture, N=${N} per proxy after ${WARMUP} warm-up calls, alternating;`,
      `v2 SDK client, one session each; loopback; Node ${process.version}; ${new Date().toISOString()}.`,
      ``,
      `| proxy | p50 (ms) | p99 (ms) |`,
      `|---|---|---|`,
      `| poke proxy | ${f(q(ta, 0.5))} | ${f(q(ta, 0.99))} |`,
      `| supergateway 4.0.0 (--outputTransport streamableHttp --stateful) | ${f(q(tb, 0.5))} | ${f(q(tb, 0.99))} |`,
      ``,
      `p50 ratio poke/supergateway: **${ratio.toFixed(2)}** (target ≤ 1.0) — ${ratio <= 1 ? "PASS" : "FAIL"}.`,
      ``,
    ];
    console.log(lines.join("\n"));
    fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
    fs.writeFileSync(path.join(root, "bench/results/proxy.md"), lines.join("\n"));
    await a.close();
    await b.close();
  } finally {
    poke.kill("SIGTERM");
    sg.kill("SIGTERM");
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
