// Benchmark: `poke proxy` against supergateway 4 in all four directions, on server-everything.
//   npx tsx bench/proxy.ts [--calls N] [--only "stdio → SSE"] [--no-write] [--cpu-prof]
//
// stdio → Streamable HTTP and stdio → SSE: both proxies serve `server-everything stdio`; an SDK v2 client
// calls them over HTTP (supergateway --stateful for Streamable HTTP). HTTP → stdio and SSE → stdio:
// server-everything runs as its own HTTP server (streamableHttp / sse), and an SDK client speaks stdio to
// each proxy, which it starts. Per direction: N sequential `echo` calls per proxy after a warm-up,
// alternating between the two so load drift hits both; p50/p99 and the ratio poke/supergateway.
// Then correctness: N calls with distinct payloads from 20 concurrent clients (stdio → HTTP: 20 sessions;
// HTTP → stdio: 20 callers in flight over one stdio connection), each answer checked against its payload.
// Targets: stdio → HTTP p50 ≤ 0.8×, HTTP → stdio p50 ≤ 1.0×, no lost or wrong result.
// Writes bench/results/proxy.md and the proxy section of bench/README.md.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const N = Number(argv[argv.indexOf("--calls") + 1] || 500) || 500;
/** --only TEXT: the directions whose name contains TEXT (e.g. "stdio → SSE"); implies --no-write. */
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
const WARMUP = 100;
const CONCURRENT = 20;
const root = path.resolve(import.meta.dirname, "..");
const EVERYTHING = path.join(root, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const SUPERGATEWAY = path.join(root, "node_modules/supergateway/dist/index.js");
const POKE = path.join(root, "cli/poke.mjs");
const SG_VERSION = JSON.parse(
  fs.readFileSync(path.join(root, "node_modules/supergateway/package.json"), "utf8"),
).version as string;
const profDir = path.join(root, "bench/out/profiles");
const pokeNodeArgs = flag("--cpu-prof") ? ["--cpu-prof", "--cpu-prof-dir", profDir] : [];

const children: ChildProcess[] = [];
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  const c = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "ignore"],
  });
  children.push(c);
  return c;
}

async function waitUp(url: string, child: ChildProcess) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited (${child.exitCode})`);
    try {
      const r = await fetch(url, { method: "GET", signal: AbortSignal.timeout(2000) });
      await r.body?.cancel();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not come up`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

type Connect = () => Promise<Client>;
type Side = { label: string; connect: Connect };
type Direction = { name: string; target: number; poke: Side; sg: Side };

const echo = (c: Client, message: string) =>
  c.callTool({ name: "echo", arguments: { message } }) as Promise<{ content: { text?: string }[] }>;

const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function latency(d: Direction) {
  const a = await d.poke.connect();
  const b = await d.sg.connect();
  for (let i = 0; i < WARMUP; i++) {
    await echo(a, "warm-up");
    await echo(b, "warm-up");
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    await echo(a, `call ${i}`);
    ta.push(performance.now() - t);
    t = performance.now();
    await echo(b, `call ${i}`);
    tb.push(performance.now() - t);
  }
  await a.close();
  await b.close();
  return { poke: { p50: q(ta, 0.5), p99: q(ta, 0.99) }, sg: { p50: q(tb, 0.5), p99: q(tb, 0.99) } };
}

/** N calls from CONCURRENT clients at once (or callers on one client); counts lost and wrong answers. */
async function correctness(side: Side, oneClient: boolean) {
  const shared = oneClient ? await side.connect() : undefined;
  const clients = shared ? [] : await Promise.all(Array.from({ length: CONCURRENT }, () => side.connect()));
  let lost = 0;
  let wrong = 0;
  await Promise.all(
    Array.from({ length: CONCURRENT }, async (_, w) => {
      const c = shared ?? clients[w];
      for (let i = w; i < N; i += CONCURRENT) {
        const payload = `client ${w} call ${i} ${Math.random().toString(36).slice(2)}`;
        try {
          const r = await echo(c, payload);
          if (r.content[0]?.text !== `Echo: ${payload}`) wrong++;
        } catch {
          lost++;
        }
      }
    }),
  );
  for (const c of shared ? [shared] : clients) await c.close().catch(() => {});
  return { lost, wrong };
}

const httpClient =
  (url: string, kind: "mcp" | "sse"): Connect =>
  async () => {
    const c = new Client({ name: "bench", version: "1" });
    await c.connect(
      kind === "mcp" ? new StreamableHTTPClientTransport(new URL(url)) : new SSEClientTransport(new URL(url)),
    );
    return c;
  };

const stdioClient =
  (args: string[]): Connect =>
  async () => {
    const c = new Client({ name: "bench", version: "1" });
    await c.connect(
      new StdioClientTransport({
        command: process.execPath,
        args,
        cwd: root,
        env: process.env as never,
        stderr: "ignore",
      }),
    );
    return c;
  };

async function main() {
  const started = new Date();
  const load0 = os.loadavg();
  const [pokePort, sgHttpPort, sgSsePort, remoteHttpPort, remoteSsePort] = await Promise.all(
    Array.from({ length: 5 }, freePort),
  );
  const stdioCmd = [EVERYTHING, "stdio"];
  const poke = start([
    ...pokeNodeArgs,
    POKE,
    "proxy",
    "--port",
    String(pokePort),
    "--",
    process.execPath,
    ...stdioCmd,
  ]);
  const sgHttp = start([
    SUPERGATEWAY,
    ...["--stdio", `${process.execPath} ${stdioCmd.join(" ")}`, "--port", String(sgHttpPort)],
    ...["--outputTransport", "streamableHttp", "--stateful", "--logLevel", "none"],
  ]);
  const sgSse = start([
    SUPERGATEWAY,
    ...["--stdio", `${process.execPath} ${stdioCmd.join(" ")}`, "--port", String(sgSsePort)],
    ...["--outputTransport", "sse", "--logLevel", "none"],
  ]);
  const remoteHttp = start([EVERYTHING, "streamableHttp"], { PORT: String(remoteHttpPort) });
  const remoteSse = start([EVERYTHING, "sse"], { PORT: String(remoteSsePort) });
  const base = (p: number) => `http://127.0.0.1:${p}`;
  await waitUp(`${base(pokePort)}/status`, poke);
  await waitUp(`${base(sgHttpPort)}/mcp`, sgHttp);
  await waitUp(`${base(sgSsePort)}/healthz`, sgSse).catch(() => {});
  await waitUp(`${base(remoteHttpPort)}/mcp`, remoteHttp);
  await waitUp(`${base(remoteSsePort)}/`, remoteSse);

  const pokeArgs = (url: string) => [...pokeNodeArgs, POKE, "proxy", url];
  const sg = `supergateway ${SG_VERSION}`;
  const directions: Direction[] = [
    {
      name: "stdio → Streamable HTTP",
      target: 0.8,
      poke: { label: "poke proxy", connect: httpClient(`${base(pokePort)}/mcp`, "mcp") },
      sg: { label: `${sg} --stateful`, connect: httpClient(`${base(sgHttpPort)}/mcp`, "mcp") },
    },
    {
      name: "stdio → SSE",
      target: 0.8,
      poke: { label: "poke proxy", connect: httpClient(`${base(pokePort)}/sse`, "sse") },
      sg: { label: sg, connect: httpClient(`${base(sgSsePort)}/sse`, "sse") },
    },
    {
      name: "Streamable HTTP → stdio",
      target: 1.0,
      poke: { label: "poke proxy", connect: stdioClient(pokeArgs(`${base(remoteHttpPort)}/mcp`)) },
      sg: {
        label: sg,
        connect: stdioClient([
          SUPERGATEWAY,
          "--streamableHttp",
          `${base(remoteHttpPort)}/mcp`,
          "--logLevel",
          "none",
        ]),
      },
    },
    {
      name: "SSE → stdio",
      target: 1.0,
      poke: { label: "poke proxy", connect: stdioClient(pokeArgs(`${base(remoteSsePort)}/sse`)) },
      sg: {
        label: sg,
        connect: stdioClient([SUPERGATEWAY, "--sse", `${base(remoteSsePort)}/sse`, "--logLevel", "none"]),
      },
    },
  ];

  const rows: string[] = [];
  const checks: string[] = [];
  let allMet = true;
  for (const d of directions.filter((x) => !only || x.name.includes(only))) {
    const r = await latency(d);
    const ratio = r.poke.p50 / r.sg.p50;
    const met = ratio <= d.target;
    allMet &&= met;
    const f = (x: number) => `${x.toFixed(2)} ms`;
    rows.push(
      `| ${d.name} | ${f(r.sg.p50)} / ${f(r.sg.p99)} | ${f(r.poke.p50)} / ${f(r.poke.p99)} | ${ratio.toFixed(2)}× | ≤ ${d.target.toFixed(1)}× | ${met ? "met" : "**missed**"} |`,
    );
    console.log(rows.at(-1));
    const oneClient = d.name.endsWith("→ stdio");
    const cp = await correctness(d.poke, oneClient);
    const cs = await correctness(d.sg, oneClient).catch((e: Error) => ({
      lost: N,
      wrong: 0,
      error: e.message,
    }));
    allMet &&= cp.lost === 0 && cp.wrong === 0;
    checks.push(
      `| ${d.name} | ${oneClient ? `${CONCURRENT} callers on one stdio connection` : `${CONCURRENT} HTTP clients`} | ${cp.lost} lost, ${cp.wrong} wrong | ${cs.lost} lost, ${cs.wrong} wrong |`,
    );
    console.log(checks.at(-1));
  }
  const load1 = os.loadavg();
  const la = (l: number[]) => l.map((x) => x.toFixed(1)).join(" / ");
  const text = [
    `| direction | ${sg} p50 / p99 | poke proxy p50 / p99 | p50 ratio | target | |`,
    `|---|---|---|---|---|---|`,
    ...rows,
    ``,
    `| direction (${N} calls, distinct payloads) | clients | poke proxy | ${sg} |`,
    `|---|---|---|---|`,
    ...checks,
    ``,
    `- Run ${started.toISOString().slice(0, 16).replace("T", " ")} UTC; \`echo\` of \`@modelcontextprotocol/server-everything\`, ${N} sequential calls per proxy and direction after ${WARMUP} warm-up calls, alternating; SDK v2 clients; loopback; Node ${process.version}.`,
    `- Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.split(" ")[0] ?? "?"}), load average ${la(load0)} at start, ${la(load1)} at end.`,
    `- All targets ${allMet ? "met" : "not met"} in this run.`,
    ``,
  ].join("\n");
  console.log(`\n${text}`);
  if (!flag("--no-write") && !only) {
    fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
    fs.writeFileSync(path.join(root, "bench/results/proxy.md"), `# Proxy benchmark\n\n${text}`);
    const readme = path.join(root, "bench/README.md");
    const START = "<!-- proxy:start -->";
    const END = "<!-- proxy:end -->";
    const md = fs.readFileSync(readme, "utf8");
    const i = md.indexOf(START);
    const j = md.indexOf(END);
    if (i >= 0 && j > i)
      fs.writeFileSync(readme, `${md.slice(0, i + START.length)}\n\n${text}\n${md.slice(j)}`);
    const prettier = path.join(root, "node_modules/.bin/prettier");
    spawnSync(prettier, ["--write", readme, path.join(root, "bench/results/proxy.md")], { stdio: "ignore" });
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill("SIGTERM");
    setTimeout(() => process.exit(), 3000).unref();
  });
