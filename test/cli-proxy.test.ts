// `poke proxy` both ways with the stdio fixture server, using the real CLI and the v2 SDK client.
import { spawn } from "node:child_process";
import http from "node:http";
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMcpServer, startSseServer, type McpFixture, type SseFixture } from "./fixtures/mcp-servers";
import { LiveCli, POKE, ROOT, runCli } from "./cli-helpers";

const STDIO = [process.execPath, "--import", "tsx", "test/fixtures/stdio-server.ts"];
const env = { ...process.env };

type TextResult = { content: { type: string; text?: string }[] };
const text = (r: unknown) => (r as TextResult).content[0].text;

describe("poke proxy (stdio → HTTP)", () => {
  let proxy: LiveCli;
  let base: string;
  beforeAll(async () => {
    proxy = new LiveCli(["proxy", "--env", "PROXY_MARK=42", "--", ...STDIO], env);
    [base] = await proxy.waitFor(/http:\/\/127\.0\.0\.1:\d+/);
  });
  afterAll(async () => {
    await proxy?.stop("SIGTERM");
  });

  it("serves several Streamable HTTP clients at once, each with its own session", async () => {
    const clients = await Promise.all(
      [1, 2, 3].map(async () => {
        const c = new Client({ name: "t", version: "1" }, { versionNegotiation: { mode: "auto" } });
        const t = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
        await c.connect(t);
        return { c, t };
      }),
    );
    const sessions = new Set(clients.map(({ t }) => t.sessionId));
    expect(sessions.size).toBe(3);
    const results = await Promise.all(
      clients.map(({ c }, i) => c.callTool({ name: "echo", arguments: { text: `client ${i}` } })),
    );
    expect(results.map(text)).toEqual(["client 0", "client 1", "client 2"]);
    // --env reaches the child; the server's own instructions pass through initialize.
    expect(text(await clients[0].c.callTool({ name: "env", arguments: { name: "PROXY_MARK" } }))).toBe("42");
    expect(clients[0].c.getInstructions()).toBe("Stdio fixture server.");
    for (const { c, t } of clients) {
      await t.terminateSession();
      await c.close();
    }
  });

  it("serves legacy SSE at /sse + /messages", async () => {
    const c = new Client({ name: "t", version: "1" });
    await c.connect(new SSEClientTransport(new URL(`${base}/sse`)));
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("echo");
    expect(text(await c.callTool({ name: "add", arguments: { a: 2, b: 3 } }))).toBe("5");
    await c.close();
  });

  it("refuses a non-loopback Host (DNS rebinding) and non-initialize first requests", async () => {
    // fetch() cannot forge Host, so a raw request plays the rebinding page.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const u = new URL(base);
      const req = http.request(
        { host: u.hostname, port: u.port, path: "/mcp", method: "POST", headers: { host: "evil.example" } },
        (res) => resolve(res.statusCode),
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(status).toBe(403);
    const r2 = await fetch(`${base}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(r2.status).toBe(400);
  });

  it("stops its children on SIGTERM and exits 0; a command that cannot run exits with its code", async () => {
    const p = new LiveCli(["proxy", "--", ...STDIO], env);
    await p.waitFor(/http:\/\/127/);
    expect(await p.stop("SIGTERM")).toBe(0);
    const broken = await runCli(["proxy", "--", process.execPath, "-e", "process.exit(7)"], env);
    expect(broken.code).toBe(7);
    const missing = await runCli(["proxy", "--", "/nonexistent/server-binary"], env);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/cannot start/);
  });
});

describe("poke proxy (HTTP → stdio)", () => {
  let remote: McpFixture;
  let sse: SseFixture;
  beforeAll(async () => {
    remote = await startMcpServer({ apiKey: "remote-token", mode: "sessionful" });
    sse = await startSseServer();
  });
  afterAll(async () => {
    await remote?.close();
    await sse?.close();
  });

  async function stdioClient(args: string[], extraEnv: Record<string, string> = {}) {
    const c = new Client({ name: "desktop", version: "1" });
    const t = new StdioClientTransport({
      command: process.execPath,
      args: [POKE, "proxy", ...args],
      cwd: ROOT,
      env: { ...(process.env as Record<string, string>), ...extraEnv },
      stderr: "pipe",
    });
    await c.connect(t);
    return c;
  }

  it("serves a Streamable HTTP server on stdio with the bearer token (flag or API_ACCESS_TOKEN)", async () => {
    const c = await stdioClient([remote.url, "--api-access-token", "remote-token"]);
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("echo");
    expect(text(await c.callTool({ name: "echo", arguments: { text: "via stdio" } }))).toBe("via stdio");
    // Notifications pass through: a tool added upstream is announced to the stdio client.
    const changed = new Promise<void>((resolve) =>
      c.setNotificationHandler("notifications/tools/list_changed", () => resolve()),
    );
    remote.addTool("late_tool");
    await changed;
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("late_tool");
    await c.close();

    const viaEnv = await stdioClient([remote.url], { API_ACCESS_TOKEN: "remote-token" });
    expect(text(await viaEnv.callTool({ name: "echo", arguments: { text: "env" } }))).toBe("env");
    await viaEnv.close();
  });

  it("falls back to legacy SSE, and a missing token fails clearly (exit 1)", async () => {
    const c = await stdioClient([sse.url]);
    expect(text(await c.callTool({ name: "echo", arguments: { text: "sse" } }))).toBe("sse");
    await c.close();

    const child = spawn(process.execPath, [POKE, "proxy", remote.url], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise((r) => child.on("exit", r));
    expect(code).toBe(1);
    expect(stderr).toMatch(/401.*api-access-token/);
  });
});
