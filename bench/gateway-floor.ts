// The floor of any gateway on this machine: a bare Node HTTP server in its own process that answers each
// POST with a pooled SDK client's callTool — no auth, database, limits, egress policy or Next.js — measured
// against the direct SDK client exactly as the call-overhead benchmark measures the app. What it adds is
// the extra process hop itself (two more loopback exchanges and wake-ups), which no gateway can avoid.
//
//   npx tsx bench/gateway-floor.ts --serve <fixture-url> <port>   (the gateway; started by the benchmark)
import { spawn } from "node:child_process";
import http from "node:http";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

export type GatewayFloorResult = {
  direct: { p50: number; p99: number };
  gateway: { p50: number; p99: number };
  added: { p50: number; p99: number };
};

// The gateway process imports nothing of the app or the bench helpers (no database, no environment).
async function serve(url: string, port: number): Promise<void> {
  const client = new Client(
    { name: "bench-gateway", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  http
    .createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const { arguments: args } = JSON.parse(Buffer.concat(chunks).toString() || "{}");
        void client.callTool({ name: "echo", arguments: args ?? {} }).then((result) => {
          const body = JSON.stringify({ result });
          res.writeHead(200, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          });
          res.end(body);
        });
      });
    })
    .listen(port, "127.0.0.1", () => console.log("ready"));
}

/** Sequential calls, interleaved in blocks of 100 like the call-overhead benchmark, after the same warm-up. */
export async function benchGatewayFloor(opts: { calls: number }): Promise<GatewayFloorResult> {
  const { directClient, freePort, percentile, ROOT, startFixtures, stopper } = await import("./lib");
  const { WARMUP_CALLS } = await import("./call-overhead");
  const warmupBlocks = Math.ceil(WARMUP_CALLS / 100);
  const fixtures = await startFixtures({});
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", `${ROOT}/bench/gateway-floor.ts`, "--serve", fixtures.urls[0], String(port)],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  const stop = stopper(proc);
  const direct = await directClient(fixtures.urls[0]);
  try {
    await new Promise((resolve, reject) => {
      proc.stdout!.once("data", resolve);
      proc.once("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
    });
    const d: number[] = [];
    const g: number[] = [];
    const blocks = Math.ceil(opts.calls / 100) + warmupBlocks;
    for (let block = 0; block < blocks; block++) {
      for (let i = 0; i < 100; i++) {
        const t = performance.now();
        await direct.callTool({ name: "echo", arguments: { text: "floor" } });
        if (block >= warmupBlocks) d.push(performance.now() - t);
      }
      for (let i = 0; i < 100; i++) {
        const t = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ arguments: { text: "floor" } }),
        });
        await res.json();
        if (block >= warmupBlocks) g.push(performance.now() - t);
      }
    }
    const p = (s: number[]) => ({ p50: percentile(s, 50), p99: percentile(s, 99) });
    const directP = p(d);
    const gatewayP = p(g);
    return {
      direct: directP,
      gateway: gatewayP,
      added: { p50: gatewayP.p50 - directP.p50, p99: gatewayP.p99 - directP.p99 },
    };
  } finally {
    await direct.close().catch(() => {});
    await stop();
    await fixtures.stop();
  }
}

if (process.argv[2] === "--serve") await serve(process.argv[3], Number(process.argv[4]));
