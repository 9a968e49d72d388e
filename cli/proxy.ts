// poke proxy — the mcp-proxy modes.
//
// stdio → HTTP: serves a stdio MCP server over Streamable HTTP (/mcp, sessionful) and legacy HTTP+SSE
// (/sse + /messages). Each HTTP session gets its OWN child process, bridged message-for-message: every
// client initializes its own server, sees its own notifications and server→client requests, and one
// client's crash or state never leaks into another's — no JSON-RPC id rewriting or shared-state guessing.
// A warm spare child is kept ready so a new session doesn't wait for a process to start; if the command
// cannot even start, the proxy exits with the child's exit code.
//
// HTTP → stdio: connects to a remote server with the v2 client (Streamable HTTP, SSE fallback, automatic
// era negotiation) and serves it on this process's stdio with the v2 server pieces, forwarding tools,
// prompts, resources and completions, and passing list-changed notifications on.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { CliError, parse, parseEnvPairs, showHelp, splitCommand, UsageError } from "./args";

export const PROXY_HELP = `Usage: poke proxy [--port N] [--host H] [--env KEY=VALUE]… -- <command> [args…]
       poke proxy <url> [--api-access-token TOKEN]

stdio → HTTP: runs <command> as a stdio MCP server and serves it over Streamable HTTP at /mcp
and legacy SSE at /sse (+ /messages), for several clients at once (one server process per
session). Listens on 127.0.0.1 and a free port unless --host/--port say otherwise; prints the URL.
The child's stderr passes through; it is stopped when the proxy exits.

HTTP → stdio: connects to the MCP server at <url> (Streamable HTTP, falling back to SSE) and
serves it on stdin/stdout, for stdio-only clients such as Claude Desktop. The token (or the
API_ACCESS_TOKEN environment variable) is sent as Authorization: Bearer.

Options:
  --port N                  port to listen on (default: a free port)
  --host H                  address to listen on (default 127.0.0.1)
  --env KEY=VALUE           extra environment for the child (repeatable)
  --api-access-token TOKEN  bearer token for <url>
  -h, --help                show this help

Examples:
  poke proxy --port 8080 -- npx -y @modelcontextprotocol/server-everything
  poke proxy https://poke.example.com/api/mcp --api-access-token poke_…`;

export async function proxy(argv: string[]): Promise<number> {
  const { own, command } = splitCommand(argv);
  const { values, positionals } = parse(
    own,
    {
      help: { type: "boolean", short: "h" },
      port: { type: "string" },
      host: { type: "string" },
      env: { type: "string", multiple: true },
      "api-access-token": { type: "string" },
    },
    PROXY_HELP,
  );
  if (values.help) return showHelp(PROXY_HELP);
  const target = !command.length && positionals.length === 1 && /^https?:\/\//i.test(positionals[0]);
  if (target) {
    const token = values["api-access-token"] ?? process.env.API_ACCESS_TOKEN;
    return httpToStdio(positionals[0], token || undefined);
  }
  const cmd = command.length ? command : positionals;
  if (!cmd.length)
    throw new UsageError("Give a command to run (after --) or a URL to connect to.", PROXY_HELP);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError("--port must be 0–65535.", PROXY_HELP);
  const running = await startStdioHttpProxy({
    command: cmd[0],
    args: cmd.slice(1),
    env: parseEnvPairs(values.env, PROXY_HELP),
    host: values.host ?? "127.0.0.1",
    port,
  });
  if (!running.url) return running.exited;
  console.error(`poke proxy: serving \`${cmd.join(" ")}\``);
  console.error(`  Streamable HTTP: ${running.url}/mcp`);
  console.error(`  SSE:             ${running.url}/sse`);
  // stdout carries just the base URL, for scripts.
  console.log(running.url);
  let stopped = false;
  const onSignal = () => {
    stopped = true;
    void running.close();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const code = await running.exited;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  return stopped ? 0 : code;
}

// ---------------------------------------------------------------------------------------------------------
// stdio child

type Message = Record<string, unknown>;

class StdioChild {
  readonly proc: ChildProcessWithoutNullStreams;
  onmessage?: (m: Message) => void;
  readonly exited: Promise<number>;
  private killedByUs = false;

  constructor(command: string, args: string[], env: Record<string, string>) {
    this.proc = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "inherit"], // stderr passes straight through
    }) as unknown as ChildProcessWithoutNullStreams;
    this.exited = new Promise<number>((resolve) => {
      this.proc.on("error", (err) => {
        console.error(
          `poke proxy: cannot start ${command}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
        );
        resolve(127);
      });
      this.proc.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    });
    this.proc.stdin.on("error", () => {}); // EPIPE when the child died; exit is reported separately
    const lines = createInterface({ input: this.proc.stdout, crlfDelay: Infinity });
    lines.on("line", (line) => {
      if (!line.trim()) return;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        console.error(`poke proxy: ignoring a non-JSON line from the server: ${line.slice(0, 120)}`);
        return;
      }
      if (msg && typeof msg === "object") this.onmessage?.(msg as Message);
    });
  }

  get wasKilled(): boolean {
    return this.killedByUs;
  }

  send(m: unknown): void {
    if (this.proc.exitCode === null && !this.proc.stdin.destroyed)
      this.proc.stdin.write(`${JSON.stringify(m)}\n`);
  }

  /** SIGTERM, then SIGKILL if it lingers. */
  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.killedByUs = true;
    this.proc.stdin.end();
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 2000);
    await this.exited;
    clearTimeout(t);
  }
}

function signalNumber(s: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[s] ?? 0;
}

// ---------------------------------------------------------------------------------------------------------
// stdio → HTTP

export type StdioHttpOptions = {
  command: string;
  args: string[];
  env: Record<string, string>;
  host: string;
  port: number;
  quiet?: boolean;
};

export type RunningProxy = {
  url: string;
  /** Resolves with the exit code the proxy should end with (a child that could not start, or 0 on close). */
  exited: Promise<number>;
  close(): Promise<void>;
  sessionCount(): number;
};

type Session = {
  child: StdioChild;
  close(): Promise<void>;
  /** Fast-path requests waiting for the child's response, by JSON-RPC id. */
  waiting?: Map<string, (m: Message) => void>;
};

const MAX_BODY = 4 * 1024 * 1024;

export async function startStdioHttpProxy(o: StdioHttpOptions): Promise<RunningProxy> {
  const { WebStandardStreamableHTTPServerTransport } = await import("@modelcontextprotocol/server");
  const sessions = new Map<string, Session>();
  let closing = false;
  let finish!: (code: number) => void;
  const exited = new Promise<number>((r) => (finish = r));

  // The warm spare: started now (so a broken command fails the proxy at once) and replaced when taken.
  let spare: StdioChild | undefined;
  const startSpare = () => {
    const child = new StdioChild(o.command, o.args, o.env);
    spare = child;
    void child.exited.then((code) => {
      if (spare !== child || closing) return;
      // It died before any client used it: the command itself is broken (or exited on its own).
      console.error(`poke proxy: the server process exited with code ${code} before serving a client`);
      void close(code);
    });
  };
  const takeChild = (): StdioChild => {
    const child = spare!;
    startSpare();
    return child;
  };
  startSpare();

  const server = http.createServer((req, res) => void route(req, res));
  server.keepAliveTimeout = 60_000;
  server.requestTimeout = 0; // SSE streams stay open

  const loopback = ["127.0.0.1", "localhost", "::1"].includes(o.host);
  async function route(req: IncomingMessage, res: ServerResponse) {
    try {
      const url = new URL(req.url ?? "/", "http://proxy");
      // DNS-rebinding guard: a proxy on loopback only answers to loopback Host names.
      if (loopback && !/^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i.test(req.headers.host ?? "")) {
        return void res.writeHead(403, { "content-type": "text/plain" }).end("Forbidden host");
      }
      if (url.pathname === "/mcp") return await streamable(req, res);
      if (url.pathname === "/sse" && req.method === "GET") return sseOpen(req, res);
      if (url.pathname === "/messages" && req.method === "POST") return await sseMessage(req, res, url);
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found");
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`proxy error: ${(e as Error).message}`);
    }
  }

  async function streamable(req: IncomingMessage, res: ServerResponse) {
    const sid = header(req, "mcp-session-id");
    const body = req.method === "POST" ? await readJson(req) : undefined;
    let session = sid ? sessions.get(sid) : undefined;
    let transport =
      session &&
      (session as Session & { transport?: InstanceType<typeof WebStandardStreamableHTTPServerTransport> })
        .transport;
    if (sid && !session) {
      return void res
        .writeHead(404, { "content-type": "application/json" })
        .end(
          JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }),
        );
    }
    if (!session) {
      if (req.method !== "POST" || !isInitialize(body?.value)) {
        return void res.writeHead(400, { "content-type": "application/json" }).end(
          JSON.stringify({
            jsonrpc: "2.0",
            id: null,
            error: { code: -32000, message: "Bad Request: start a session with initialize" },
          }),
        );
      }
      const child = takeChild();
      const t = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (id) => void sessions.set(id, s),
        onsessionclosed: (id) => void sessions.get(id)?.close(),
      });
      const s: Session & { transport: typeof t } = {
        child,
        transport: t,
        close: async () => {
          if (t.sessionId) sessions.delete(t.sessionId);
          await child.kill();
          await t.close().catch(() => {});
        },
      };
      const waiting = new Map<string, (m: Message) => void>();
      s.waiting = waiting;
      t.onmessage = (m) => child.send(m);
      child.onmessage = (m) => {
        const key = "id" in m && !("method" in m) ? JSON.stringify(m.id) : undefined;
        const resolve = key === undefined ? undefined : waiting.get(key);
        if (resolve) {
          waiting.delete(key!);
          resolve(m);
        } else void t.send(m as never).catch(() => {});
      };
      void child.exited.then((code) => {
        if (!child.wasKilled && !closing) {
          console.error(`poke proxy: a session's server process exited (code ${code}); closing that session`);
          void s.close();
        }
      });
      await t.start?.();
      session = s;
      transport = t;
    }
    if (session.waiting && sid && fastPathable(req, body?.value)) {
      // Hot path (tools/call and friends on an initialized session): a single JSON-RPC request is written
      // to the child and its response returned as a JSON body, skipping the Web Request/Response round
      // trip. Anything else (notifications, batches, GET streams, DELETE) goes through the SDK transport.
      const msg = body!.value as Message;
      const key = JSON.stringify(msg.id);
      const answer = await new Promise<Message | undefined>((resolve) => {
        session!.waiting!.set(key, resolve);
        res.once("close", () => {
          if (session!.waiting!.delete(key)) resolve(undefined);
        });
        session!.child.send(msg);
        void session!.child.exited.then(() => resolve(undefined));
      });
      if (!answer) {
        if (!res.writableEnded && !res.destroyed)
          res.writeHead(502, { "content-type": "text/plain" }).end("The server process ended");
        return;
      }
      const text = JSON.stringify(answer);
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
        "mcp-session-id": sid,
      });
      return void res.end(text);
    }
    const response = await transport!.handleRequest(toWebRequest(req, body?.text), {
      parsedBody: body?.value,
    } as never);
    await sendWebResponse(res, response);
  }

  function sseOpen(req: IncomingMessage, res: ServerResponse) {
    const id = randomUUID();
    const child = takeChild();
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
    });
    res.write(`event: endpoint\ndata: /messages?sessionId=${id}\n\n`);
    child.onmessage = (m) => res.write(`event: message\ndata: ${JSON.stringify(m)}\n\n`);
    const s: Session = {
      child,
      close: async () => {
        sessions.delete(id);
        res.end();
        await child.kill();
      },
    };
    sessions.set(id, s);
    req.on("close", () => void s.close());
    void child.exited.then(() => {
      if (!child.wasKilled) void s.close();
    });
  }

  async function sseMessage(req: IncomingMessage, res: ServerResponse, url: URL) {
    const s = sessions.get(url.searchParams.get("sessionId") ?? "");
    if (!s) return void res.writeHead(404, { "content-type": "text/plain" }).end("Session not found");
    const body = await readJson(req);
    if (body.value === undefined)
      return void res.writeHead(400, { "content-type": "text/plain" }).end("Invalid JSON");
    for (const m of Array.isArray(body.value) ? body.value : [body.value]) s.child.send(m);
    res.writeHead(202, { "content-type": "text/plain" }).end("Accepted");
  }

  async function close(code = 0) {
    if (closing) return;
    closing = true;
    server.closeAllConnections?.();
    server.close();
    await Promise.allSettled([...sessions.values()].map((s) => s.close()));
    await spare?.kill();
    finish(code);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new CliError(
          e.code === "EADDRINUSE" ? `Port ${o.port} is in use; pick another with --port.` : e.message,
        ),
      ),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  // null when the command already died and the listener was closed again (exited tells the code).
  const addr = server.address() as AddressInfo | null;
  const hostPart = addr?.family === "IPv6" ? `[${addr.address}]` : addr?.address;
  return {
    url: addr ? `http://${hostPart === "0.0.0.0" ? "127.0.0.1" : hostPart}:${addr.port}` : "",
    exited,
    close: () => close(0),
    sessionCount: () => sessions.size,
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function fastPathable(req: IncomingMessage, v: unknown): boolean {
  if (req.method !== "POST" || !v || typeof v !== "object" || Array.isArray(v)) return false;
  const m = v as Message;
  if (typeof m.method !== "string" || m.method === "initialize" || !("id" in m)) return false;
  if (!(typeof m.id === "string" || typeof m.id === "number")) return false;
  return /application\/json/i.test(header(req, "accept") ?? "");
}

function isInitialize(v: unknown): boolean {
  const first = Array.isArray(v) ? v[0] : v;
  return !!first && typeof first === "object" && (first as Message).method === "initialize";
}

async function readJson(req: IncomingMessage): Promise<{ text: string; value: unknown }> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw new Error("request body too large");
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return { text, value: text ? JSON.parse(text) : undefined };
  } catch {
    return { text, value: undefined };
  }
}

function toWebRequest(req: IncomingMessage, body: string | undefined): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
  }
  return new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method: req.method,
    headers,
    body: body && req.method !== "GET" && req.method !== "HEAD" ? body : undefined,
  });
}

async function sendWebResponse(res: ServerResponse, r: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  r.headers.forEach((v, k) => (headers[k] = v));
  res.writeHead(r.status, headers);
  if (!r.body) return void res.end();
  const reader = r.body.getReader();
  res.on("close", () => void reader.cancel().catch(() => {}));
  res.flushHeaders();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((resolve) => res.once("drain", resolve));
    }
  } catch {
    /* client went away */
  }
  res.end();
}

// ---------------------------------------------------------------------------------------------------------
// HTTP → stdio

async function httpToStdio(rawUrl: string, token: string | undefined): Promise<number> {
  const client = await import("@modelcontextprotocol/client");
  const { Server } = await import("@modelcontextprotocol/server");
  const { serveStdio } = await import("@modelcontextprotocol/server/stdio");
  const url = new URL(rawUrl);
  const servers = new Set<InstanceType<typeof Server>>();
  const log = (m: string) => console.error(`poke proxy: ${m}`);

  const authProvider = token ? { token: async () => token } : undefined;
  const notifyAll = (fn: (s: InstanceType<typeof Server>) => Promise<void> | void) => {
    for (const s of servers) void Promise.resolve(fn(s)).catch(() => {});
  };
  const make = () =>
    new client.Client(
      { name: "poke-proxy", version: "0.1.0" },
      {
        versionNegotiation: { mode: "auto" },
        listChanged: {
          tools: { autoRefresh: false, onChanged: () => notifyAll((s) => s.sendToolListChanged()) },
          prompts: { autoRefresh: false, onChanged: () => notifyAll((s) => s.sendPromptListChanged()) },
          resources: { autoRefresh: false, onChanged: () => notifyAll((s) => s.sendResourceListChanged()) },
        },
      },
    );
  // Streamable HTTP first; legacy SSE only when the endpoint answers 400/404/405 (never on 401/403).
  let remote = make();
  try {
    await remote.connect(new client.StreamableHTTPClientTransport(url, { authProvider }), {
      timeout: 15_000,
    });
  } catch (e) {
    await remote.close().catch(() => {});
    const status = e instanceof client.SdkHttpError ? e.status : undefined;
    if (status === 401 || status === 403)
      throw new CliError(
        `${url.host} answered ${status}: pass a valid token with --api-access-token (or API_ACCESS_TOKEN).`,
      );
    if (status === undefined || ![400, 404, 405].includes(status))
      throw new CliError(`Cannot connect to ${url.href}: ${(e as Error).message}`);
    remote = make();
    try {
      await remote.connect(new client.SSEClientTransport(url, { authProvider }), { timeout: 15_000 });
    } catch (e2) {
      throw new CliError(`Cannot connect to ${url.href} (Streamable HTTP or SSE): ${(e2 as Error).message}`);
    }
  }
  const caps = remote.getServerCapabilities() ?? {};
  const info = remote.getServerVersion();
  log(
    `connected to ${url.host} (${info?.name ?? "server"}, protocol ${remote.getNegotiatedProtocolVersion()})`,
  );

  const build = () => {
    const capabilities: Record<string, unknown> = {};
    if (caps.tools) capabilities.tools = { listChanged: true };
    if (caps.prompts) capabilities.prompts = { listChanged: true };
    if (caps.resources) capabilities.resources = { listChanged: true };
    if (caps.completions) capabilities.completions = {};
    if (caps.logging) capabilities.logging = {};
    const s = new Server(
      { name: info?.name ?? "poke-proxy", version: info?.version ?? "0.1.0" },
      { capabilities, instructions: remote.getInstructions() },
    );
    const opts = (ctx: { mcpReq?: { signal?: AbortSignal } }) => ({
      signal: ctx.mcpReq?.signal,
      timeout: 300_000,
    });
    if (caps.tools) {
      s.setRequestHandler("tools/list", (r) => remote.listTools(r.params));
      s.setRequestHandler("tools/call", (r, ctx) => remote.callTool(r.params, opts(ctx as never)) as never);
    }
    if (caps.prompts) {
      s.setRequestHandler("prompts/list", (r) => remote.listPrompts(r.params));
      s.setRequestHandler("prompts/get", (r) => remote.getPrompt(r.params));
    }
    if (caps.resources) {
      s.setRequestHandler("resources/list", (r) => remote.listResources(r.params));
      s.setRequestHandler("resources/templates/list", (r) => remote.listResourceTemplates(r.params));
      s.setRequestHandler("resources/read", (r) => remote.readResource(r.params));
    }
    if (caps.completions) s.setRequestHandler("completion/complete", (r) => remote.complete(r.params));
    if (caps.logging) {
      s.setRequestHandler("logging/setLevel", async (r) => {
        await remote.setLoggingLevel(r.params.level).catch(() => {});
        return {};
      });
    }
    servers.add(s);
    return s;
  };
  const handle = serveStdio(build as never);
  return new Promise<number>((resolve) => {
    const stop = (code: number) => {
      void handle
        .close()
        .catch(() => {})
        .then(() => remote.close().catch(() => {}))
        .then(() => resolve(code));
    };
    process.stdin.on("end", () => stop(0));
    process.on("SIGINT", () => stop(0));
    process.on("SIGTERM", () => stop(0));
    remote.onclose = () => {
      log(`the connection to ${url.host} closed`);
      stop(1);
    };
  });
}
