// `mcp-proxy` (the same program as `poke proxy`) run as a person following mcp-proxy's documentation would:
// its argument forms, named servers, idle sessions reclaimed, progress, cancellation and the server's
// title crossing the proxy in both directions, CORS, stateless mode and errors that say what to do.
// Real processes throughout: the CLI, the stdio fixture server, server-everything, SDK v2 clients.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, ROOT } from "./cli-helpers";
import { EVERYTHING, startEverything, type Everything } from "./fixtures/everything";
import { startMcpServer, startSseServer, type McpFixture, type SseFixture } from "./fixtures/mcp-servers";
import { waitFor } from "./wait";

const MCP_PROXY = path.join(ROOT, "cli", "mcp-proxy.mjs");
const FIXTURE = ["--import", "tsx", "test/fixtures/stdio-server.ts"];
const STDIO = [process.execPath, ...FIXTURE];

type TextResult = { content: { type: string; text?: string }[] };
const text = (r: unknown) => (r as TextResult).content[0].text;

/** A running `mcp-proxy …`; resolves once it printed its URL. */
class Proxy {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  constructor(args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [MCP_PROXY, ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (d) => (this.stdout += d));
    this.child.stderr!.on("data", (d) => (this.stderr += d));
    this.exited = new Promise((r) => this.child.on("exit", (code) => r(code)));
  }
  async url(): Promise<string> {
    return waitFor(
      () => {
        if (this.child.exitCode !== null)
          throw new Error(`mcp-proxy exited ${this.child.exitCode}: ${this.stderr}`);
        return /http:\/\/127\.0\.0\.1:\d+/.exec(this.stdout)?.[0];
      },
      { timeoutMs: 120_000, what: "the proxy's URL" },
    );
  }
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }
}

/** Runs `mcp-proxy …` to completion. */
function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [MCP_PROXY, ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d) => (stdout += d));
    c.stderr.on("data", (d) => (stderr += d));
    c.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

async function httpClient(url: string) {
  const c = new Client({ name: "t", version: "1" });
  const t = url.endsWith("/sse")
    ? new SSEClientTransport(new URL(url))
    : new StreamableHTTPClientTransport(new URL(url));
  await c.connect(t);
  return c;
}

async function stdioClient(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const c = new Client({ name: "desktop", version: "1" });
  const t = new StdioClientTransport({
    command: process.execPath,
    args: [MCP_PROXY, ...args],
    cwd: ROOT,
    env: env as Record<string, string>,
    stderr: "pipe",
  });
  await c.connect(t);
  return c;
}

/** Process ids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe("mcp-proxy's command line", () => {
  it("is installed as mcp-proxy; --help lists every documented option", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    expect(pkg.bin["mcp-proxy"]).toBe("cli/mcp-proxy.mjs");
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: mcp-proxy/);
    for (const option of [
      "--headers",
      "-H",
      "--transport",
      "--api-access-token",
      "--verify-ssl",
      "--no-verify-ssl",
      "--port",
      "--host",
      "--sse-port",
      "--sse-host",
      "--env",
      "-e",
      "--cwd",
      "--pass-environment",
      "--allow-origin",
      "--stateless",
      "--named-server",
      "--named-server-config",
      "--session-timeout",
      "--log-level",
      "--debug",
      "--version",
      "API_ACCESS_TOKEN",
    ])
      expect(r.stdout).toContain(option);
  });

  it("names the closest option for an unknown one (exit 2)", async () => {
    const r = await run(["--sse-prot", "8080", "--", ...STDIO]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option --sse-prot. Did you mean --sse-port?");
  });

  it("takes --sse-port/--sse-host, -e KEY VALUE, --env KEY=VALUE and the child's own flags without --", async () => {
    const port = await freePort();
    const p = new Proxy(
      [
        "--sse-port",
        String(port),
        "--sse-host",
        "127.0.0.1",
        "-e",
        "MARK_A",
        "one two",
        "--env",
        "MARK_B=2",
      ].concat([process.execPath, "--no-warnings", ...FIXTURE]),
      { ...process.env, PARENT_ONLY: "secret" },
    );
    try {
      expect(await p.url()).toBe(`http://127.0.0.1:${port}`);
      const c = await httpClient(`http://127.0.0.1:${port}/mcp`);
      expect(text(await c.callTool({ name: "env", arguments: { name: "MARK_A" } }))).toBe("one two");
      expect(text(await c.callTool({ name: "env", arguments: { name: "MARK_B" } }))).toBe("2");
      // Without --pass-environment the server gets PATH, HOME and the like, not the proxy's other variables.
      expect(text(await c.callTool({ name: "env", arguments: { name: "PARENT_ONLY" } }))).toBe("");
      expect(text(await c.callTool({ name: "env", arguments: { name: "PATH" } }))).toBe(process.env.PATH);
      await c.close();
    } finally {
      await p.stop();
    }
  });

  it("passes the whole environment with --pass-environment and runs the server in --cwd", async () => {
    // The script path is relative to --cwd: the server starts only if --cwd took effect.
    const p = new Proxy(
      [
        "--pass-environment",
        "--cwd",
        "test/fixtures",
        "--",
        process.execPath,
        "--import",
        "tsx",
        "stdio-server.ts",
      ],
      { ...process.env, PARENT_ONLY: "secret" },
    );
    try {
      const c = await httpClient(`${await p.url()}/sse`);
      expect(text(await c.callTool({ name: "env", arguments: { name: "PARENT_ONLY" } }))).toBe("secret");
      await c.close();
    } finally {
      await p.stop();
    }
  });
});

describe("named servers", () => {
  it("serves --named-server NAME 'COMMAND ARGS' at /servers/NAME/mcp and /sse beside the default server", async () => {
    const cmd = `${process.execPath} ${FIXTURE.join(" ")}`;
    const p = new Proxy([
      "--named-server",
      "alpha",
      cmd,
      "--named-server",
      "beta",
      cmd,
      "-e",
      "MARK",
      "root",
      "--",
      ...STDIO,
    ]);
    try {
      const base = await p.url();
      const alpha = await httpClient(`${base}/servers/alpha/mcp`);
      const beta = await httpClient(`${base}/servers/beta/sse`);
      const root = await httpClient(`${base}/mcp`);
      expect(text(await alpha.callTool({ name: "echo", arguments: { text: "a" } }))).toBe("a");
      expect(text(await beta.callTool({ name: "echo", arguments: { text: "b" } }))).toBe("b");
      // --env is for the default server only, as in mcp-proxy.
      expect(text(await root.callTool({ name: "env", arguments: { name: "MARK" } }))).toBe("root");
      expect(text(await alpha.callTool({ name: "env", arguments: { name: "MARK" } }))).toBe("");
      const status = await (await fetch(`${base}/status`)).json();
      expect(Object.keys(status.server_instances).sort()).toEqual(["alpha", "beta", "default"]);
      expect((await fetch(`${base}/servers/gamma/mcp`, { method: "POST", body: "{}" })).status).toBe(404);
      for (const c of [alpha, beta, root]) await c.close();
    } finally {
      await p.stop();
    }
  });

  it("reads --named-server-config (mcpServers with env; disabled entries skipped)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-proxy-cfg-"));
    const file = path.join(dir, "servers.json");
    const server = (mark: string) => ({ command: process.execPath, args: FIXTURE, env: { MARK: mark } });
    fs.writeFileSync(
      file,
      JSON.stringify({
        mcpServers: {
          one: { ...server("first"), timeout: 60, transportType: "stdio" },
          two: server("second"),
          off: { ...server("never"), disabled: true },
        },
      }),
    );
    const p = new Proxy(["--named-server-config", file]);
    try {
      const base = await p.url();
      const one = await httpClient(`${base}/servers/one/mcp`);
      const two = await httpClient(`${base}/servers/two/sse`);
      expect(text(await one.callTool({ name: "env", arguments: { name: "MARK" } }))).toBe("first");
      expect(text(await two.callTool({ name: "env", arguments: { name: "MARK" } }))).toBe("second");
      expect((await fetch(`${base}/servers/off/mcp`, { method: "POST", body: "{}" })).status).toBe(404);
      expect((await fetch(`${base}/mcp`, { method: "POST", body: "{}" })).status).toBe(404); // no default server
      await one.close();
      await two.close();
    } finally {
      await p.stop();
    }
    const bad = await run(["--named-server-config", path.join(dir, "missing.json")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cannot read .*missing\.json \(no such file\)/);
  });
});

describe("a long-running proxy", () => {
  it("closes sessions whose client vanished after --session-timeout, stopping their server process", async () => {
    const p = new Proxy(["--session-timeout", "1s", "--", ...STDIO]);
    try {
      const base = await p.url();
      const pid = p.child.pid!;
      await waitFor(() => childrenOf(pid).length === 1, { what: "the warm spare" });
      const transports: StreamableHTTPClientTransport[] = [];
      for (let i = 0; i < 3; i++) {
        const c = new Client({ name: "t", version: "1" });
        const t = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
        await c.connect(t);
        expect(text(await c.callTool({ name: "echo", arguments: { text: `x${i}` } }))).toBe(`x${i}`);
        transports.push(t);
      }
      const sse = new Client({ name: "t", version: "1" });
      await sse.connect(new SSEClientTransport(new URL(`${base}/sse`)));
      // One server process per session, plus the spare.
      expect(childrenOf(pid).length).toBe(5);
      // The Streamable HTTP clients go away without DELETE (their GET streams drop, as when a process dies);
      // the SSE client's stream closes the same way.
      for (const t of transports) await t.close();
      await sse.close();
      await waitFor(() => childrenOf(pid).length === 1, {
        timeoutMs: 60_000,
        what: "the vanished clients' server processes to stop (only the spare left)",
      });
      // A reclaimed session is gone for good.
      const r = await fetch(`${base}/mcp`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-session-id": transports[0].sessionId!,
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(r.status).toBe(404);
      expect(p.stderr).toMatch(/idle for .* \(--session-timeout 1s\); its server process is stopped/);
    } finally {
      await p.stop();
    }
  });

  it("answers browser pages from --allow-origin origins (CORS) and refuses other origins", async () => {
    const p = new Proxy(["--allow-origin", "https://app.example", "--", ...STDIO]);
    try {
      const base = await p.url();
      const pre = await fetch(`${base}/mcp`, {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, mcp-session-id",
        },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
      expect(pre.headers.get("access-control-allow-methods")).toMatch(/POST/);
      const init = await fetch(`${base}/mcp`, {
        method: "POST",
        headers: {
          origin: "https://app.example",
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-06-18",
            capabilities: {},
            clientInfo: { name: "page", version: "1" },
          },
        }),
      });
      expect(init.status).toBe(200);
      expect(init.headers.get("access-control-allow-origin")).toBe("https://app.example");
      expect(init.headers.get("access-control-expose-headers")).toMatch(/mcp-session-id/);
      expect(init.headers.get("mcp-session-id")).toBeTruthy();
      const evil = await fetch(`${base}/mcp`, {
        method: "POST",
        headers: { origin: "https://evil.example" },
        body: "{}",
      });
      expect(evil.status).toBe(403);
      expect(await evil.text()).toMatch(/--allow-origin https:\/\/evil\.example/);
    } finally {
      await p.stop();
    }
  });

  it("serves without sessions with --stateless (one shared server process)", async () => {
    const p = new Proxy(["--stateless", "--", ...STDIO]);
    try {
      const base = await p.url();
      const post = (body: unknown) =>
        fetch(`${base}/mcp`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify(body),
        });
      const answers = await Promise.all(
        [1, 2, 3, 4, 5].map(async (i) =>
          (
            await post({
              jsonrpc: "2.0",
              id: i,
              method: "tools/call",
              params: { name: "echo", arguments: { text: `s${i}` } },
            })
          ).json(),
        ),
      );
      expect(answers.map((a) => [a.id, a.result.content[0].text])).toEqual(
        [1, 2, 3, 4, 5].map((i) => [i, `s${i}`]),
      );
      expect((await fetch(`${base}/mcp`)).status).toBe(405);
      const c = await httpClient(`${base}/mcp`); // an SDK client works too
      expect(text(await c.callTool({ name: "add", arguments: { a: 2, b: 3 } }))).toBe("5");
      await c.close();
    } finally {
      await p.stop();
    }
    const broken = await run(["--stateless", "--", process.execPath, "-e", "process.exit(5)"]);
    expect(broken.code).toBe(5);
    expect(broken.stderr).toMatch(/exited with code 5 before serving a client/);
  });
});

describe("progress, cancellation and the server's title through the proxy", () => {
  let remote: McpFixture;
  let everything: Everything;
  let everythingUrl: string;
  beforeAll(async () => {
    remote = await startMcpServer({ apiKey: "remote-token", mode: "sessionful", title: "Remote Title" });
    everything = await startEverything();
    everythingUrl = everything.url;
  });
  afterAll(async () => {
    await remote?.close();
    everything?.close();
  });

  const longRun = (c: Client, progress: unknown[]) =>
    c.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.4, steps: 4 } },
      { onprogress: (p) => void progress.push(p) },
    );
  /**
   * The steps' progress, in order. The SDK client runs progress handlers a microtask after the message
   * arrives but settles the call at once, so a last step that arrives together with the result can be
   * dropped by the client itself (a direct client sees the same): every step but the last must arrive.
   */
  const expectProgress = (progress: unknown[]) => {
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress).toEqual(progress.map((_, i) => expect.objectContaining({ progress: i + 1, total: 4 })));
  };

  it("stdio → HTTP: server-everything's progress and title reach Streamable HTTP and SSE clients", async () => {
    const p = new Proxy(["--", process.execPath, EVERYTHING, "stdio"]);
    try {
      const base = await p.url();
      for (const endpoint of ["/mcp", "/sse"]) {
        const c = await httpClient(`${base}${endpoint}`);
        expect(c.getServerVersion()?.title).toBe("Everything Reference Server");
        expect(c.getInstructions()).toBeTruthy();
        const progress: unknown[] = [];
        expect(text(await longRun(c, progress))).toMatch(/Long running operation completed/);
        expectProgress(progress);
        await c.close();
      }
    } finally {
      await p.stop();
    }
  });

  it("HTTP → stdio: server-everything's progress, title and instructions reach the stdio client", async () => {
    const c = await stdioClient(["--transport", "streamablehttp", everythingUrl]);
    expect(c.getServerVersion()?.title).toBe("Everything Reference Server");
    expect(c.getInstructions()).toBeTruthy();
    const progress: unknown[] = [];
    expect(text(await longRun(c, progress))).toMatch(/Long running operation completed/);
    expectProgress(progress);
    await c.close();
  });

  it("cancellation crosses both directions (HTTP → proxy → stdio → proxy → HTTP server)", async () => {
    // The stdio server behind the first proxy is a second proxy, relaying to the in-test server, which
    // records whether the call it received was cancelled.
    const p = new Proxy([
      "--pass-environment",
      "--",
      process.execPath,
      MCP_PROXY,
      remote.url,
      "-H",
      "Authorization",
      "Bearer remote-token",
    ]);
    try {
      const c = await httpClient(`${await p.url()}/mcp`);
      expect(c.getServerVersion()?.title).toBe("Remote Title");
      await expectCancelReaches(c, remote);
      await c.close();
    } finally {
      await p.stop();
    }
  });
});

/** A call the client abandons is cancelled at the server behind the proxy. */
async function expectCancelReaches(c: Client, server: McpFixture) {
  const before = server.calls.length;
  const abort = new AbortController();
  const call = c.callTool({ name: "hang", arguments: {} }, { signal: abort.signal });
  const record = await waitFor(() => server.calls.slice(before).find((r) => r.name === "hang"), {
    what: "the call to reach the server",
  });
  abort.abort("changed my mind");
  await expect(call).rejects.toThrow();
  await waitFor(() => record.outcome === "cancelled", { what: "the server to see the cancellation" });
}

describe("HTTP → stdio to a 2026-era server (no initialize, no sessions)", () => {
  let modern: McpFixture;
  beforeAll(async () => {
    modern = await startMcpServer({ mode: "modern", title: "Modern Title", instructions: "Modern rules." });
  });
  afterAll(async () => {
    await modern?.close();
  });

  it("serves its tools on stdio with title and instructions, and cancels a call the client abandons", async () => {
    const c = await stdioClient([modern.url]);
    expect(c.getServerVersion()?.title).toBe("Modern Title");
    expect(c.getInstructions()).toBe("Modern rules.");
    expect(text(await c.callTool({ name: "echo", arguments: { text: "modern" } }))).toBe("modern");
    // A tool added upstream is announced to the stdio client.
    const changed = new Promise<void>((resolve) =>
      c.setNotificationHandler("notifications/tools/list_changed", () => resolve()),
    );
    modern.addTool("late_modern_tool");
    await changed;
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("late_modern_tool");
    await expectCancelReaches(c, modern);
    await c.close();
  });
});

describe("errors that say what to do", () => {
  let remote: McpFixture;
  beforeAll(async () => {
    remote = await startMcpServer({ apiKey: "remote-token", mode: "sessionful" });
  });
  afterAll(async () => {
    await remote?.close();
  });

  it("a wrong token, a missing token, a closed port and a wrong path", async () => {
    const wrong = await run([remote.url, "--api-access-token", "nope"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(
      `Cannot connect to ${remote.url}: the server refused the token (401 Unauthorized)`,
    );
    const missing = await run([remote.url]);
    expect(missing.stderr).toMatch(/the server wants a token \(401 Unauthorized\)\. Pass --api-access-token/);
    const port = await freePort();
    const closed = await run([`http://127.0.0.1:${port}/mcp`]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain(
      `connection refused on port ${port}. Is the server running, and is the URL right?`,
    );
    const wrongPath = await run([
      new URL("/nothing-here", remote.url).href,
      "-H",
      "Authorization",
      "Bearer remote-token",
    ]);
    expect(wrongPath.code).toBe(1);
    expect(wrongPath.stderr).toMatch(/Cannot connect to .*nothing-here/);
  });

  it("opens a new session when the server forgot the old one, and the call still succeeds", async () => {
    const c = await stdioClient([remote.url, "--api-access-token", "remote-token"]);
    expect(text(await c.callTool({ name: "echo", arguments: { text: "before" } }))).toBe("before");
    remote.expireSessions();
    expect(text(await c.callTool({ name: "echo", arguments: { text: "after" } }))).toBe("after");
    await c.close();
  });

  it("-H/--headers and --transport streamablehttp reach a server that needs a header", async () => {
    const c = await stdioClient([
      "--transport",
      "streamablehttp",
      "--headers",
      "Authorization",
      "Bearer remote-token",
      remote.url,
    ]);
    expect(text(await c.callTool({ name: "echo", arguments: { text: "with header" } }))).toBe("with header");
    await c.close();
  });

  it("a port in use is named", async () => {
    const p = new Proxy(["--", ...STDIO]);
    try {
      const port = Number(new URL(await p.url()).port);
      const r = await run(["--port", String(port), "--", ...STDIO]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is in use: pick another with --port`),
      );
    } finally {
      await p.stop();
    }
  });
});

describe("HTTPS servers: --verify-ssl, --no-verify-ssl, --verify-ssl=CA-FILE", () => {
  let remote: McpFixture;
  let sse: SseFixture;
  let front: tls.Server;
  let url: string;
  let certFile: string;
  beforeAll(async () => {
    remote = await startMcpServer({ mode: "sessionful" });
    sse = await startSseServer();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-proxy-tls-"));
    certFile = path.join(dir, "cert.pem");
    const keyFile = path.join(dir, "key.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        certFile,
        "-days",
        "2",
      ].concat(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]),
      { stdio: "ignore" },
    );
    // TLS in front of the fixture server, with a certificate nobody trusts.
    const target = new URL(remote.url);
    front = tls.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, (socket) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on("error", () => upstream.destroy());
      upstream.on("error", () => socket.destroy());
    });
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
    url = `https://127.0.0.1:${(front.address() as net.AddressInfo).port}${target.pathname}`;
  });
  afterAll(async () => {
    front?.close();
    await remote?.close();
    await sse?.close();
  });

  it("refuses an untrusted certificate with what to do, and connects when told to trust it", async () => {
    const refused = await run([url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /its TLS certificate is not trusted \(\w+\)\. Pass --verify-ssl=\/path\/to\/ca\.pem, or --no-verify-ssl/,
    );
    for (const flag of ["--no-verify-ssl", `--verify-ssl=${certFile}`]) {
      const c = await stdioClient([flag, url]);
      expect(text(await c.callTool({ name: "echo", arguments: { text: flag } }))).toBe(flag);
      await c.close();
    }
  });

  it("--transport sse uses the legacy transport without trying Streamable HTTP first", async () => {
    const c = await stdioClient(["--transport", "sse", sse.url]);
    expect(text(await c.callTool({ name: "echo", arguments: { text: "sse" } }))).toBe("sse");
    await c.close();
    const wrong = await run(["--transport", "sse", remote.url]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/Cannot connect to .*: .*SSE/);
  });
});
