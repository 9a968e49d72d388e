// stdio → HTTP: serves stdio MCP servers over Streamable HTTP (/mcp) and legacy HTTP+SSE (/sse + /messages),
// the default server at the root and named servers under /servers/NAME/.
//
// Sessionful (the default): each HTTP session gets its OWN child process, bridged message for message, so
// every client initializes its own server, sees its own notifications, progress and server→client
// requests, and one client's crash or state never leaks into another's — no id rewriting. A warm spare
// child per server is kept ready so a new session doesn't wait for a process to start; a command that
// cannot even start ends the proxy with the child's exit code. Sessions whose client went away without
// DELETE are closed after an idle timeout, stopping their child.
//
// Stateless (--stateless): one child per server, initialized by the proxy, shared by every request;
// request ids and progress tokens are rewritten so answers reach the right caller.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import { CliError } from "./args";
import type { LogLevel, ServerSpec } from "./proxy-args";

export type Log = {
  debug(m: string): void;
  info(m: string): void;
  warn(m: string): void;
  error(m: string): void;
};

export function makeLog(prefix: string, level: LogLevel = "INFO"): Log {
  const order = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
  const on = (l: string) => order.indexOf(l) >= order.indexOf(level);
  const out = (m: string) => console.error(`${prefix}: ${m}`);
  return {
    debug: (m) => on("DEBUG") && out(m),
    info: (m) => on("INFO") && out(m),
    warn: (m) => on("WARNING") && out(m),
    error: (m) => on("ERROR") && out(m),
  };
}

/**
 * What a server process inherits without --pass-environment, as mcp-proxy and the MCP SDKs do: enough to
 * find programs and a home directory, and none of the proxy's secrets.
 */
const INHERITED =
  process.platform === "win32"
    ? [
        "APPDATA",
        "HOMEDRIVE",
        "HOMEPATH",
        "LOCALAPPDATA",
        "PATH",
        "PATHEXT",
        "PROCESSOR_ARCHITECTURE",
      ].concat(["PROGRAMFILES", "SYSTEMDRIVE", "SYSTEMROOT", "TEMP", "USERNAME", "USERPROFILE"])
    : ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

export function baseEnvironment(passEnvironment: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (passEnvironment || (INHERITED.includes(k.toUpperCase()) && !v.startsWith("()"))) out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// stdio child

type Message = Record<string, unknown>;

class StdioChild {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Each message with the line it came in (forwarded as is where no rewriting is needed). */
  onmessage?: (m: Message, line: string) => void;
  readonly exited: Promise<number>;
  private killedByUs = false;

  constructor(
    readonly label: string,
    spec: { command: string; args: string[]; env: Record<string, string>; cwd?: string },
    log: Log,
  ) {
    this.proc = spawn(spec.command, spec.args, {
      env: spec.env as NodeJS.ProcessEnv,
      cwd: spec.cwd,
      stdio: ["pipe", "pipe", "inherit"], // stderr passes straight through
    }) as unknown as ChildProcessWithoutNullStreams;
    this.exited = new Promise<number>((resolve) => {
      this.proc.on("error", (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        log.error(
          `cannot start ${label} (\`${spec.command}\`): ${
            code === "ENOENT" ? "command not found — is it installed and on PATH?" : (code ?? err.message)
          }`,
        );
        resolve(127);
      });
      this.proc.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    });
    this.proc.stdin.on("error", () => {}); // EPIPE when the child died; exit is reported separately
    onLines(this.proc.stdout, (line) => {
      if (!line.trim()) return;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        log.warn(`${label} wrote a line that is not JSON (ignored): ${line.slice(0, 120)}`);
        return;
      }
      if (msg && typeof msg === "object") this.onmessage?.(msg as Message, line);
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get wasKilled(): boolean {
    return this.killedByUs;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  send(m: unknown): void {
    if (this.alive && !this.proc.stdin.destroyed) this.proc.stdin.write(`${JSON.stringify(m)}\n`);
  }

  /** A message already serialized by the client; re-serialized only if it spans lines. */
  sendText(text: string, m: unknown): void {
    if (/[\r\n]/.test(text)) return this.send(m);
    if (this.alive && !this.proc.stdin.destroyed) this.proc.stdin.write(`${text}\n`);
  }

  /** Closes stdin and sends SIGTERM, then SIGKILL if it lingers. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.killedByUs = true;
    this.proc.stdin.end();
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 2000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Calls `online` for each line of a stream (\n or \r\n), as it arrives. */
export function onLines(stream: Readable, online: (line: string) => void, onend?: () => void): void {
  stream.setEncoding("utf8");
  let buf = "";
  stream.on("data", (chunk: string) => {
    let start = 0;
    let i: number;
    const text = buf ? buf + chunk : chunk;
    while ((i = text.indexOf("\n", start)) >= 0) {
      const end = i > start && text.charCodeAt(i - 1) === 13 ? i - 1 : i;
      online(text.slice(start, end));
      start = i + 1;
    }
    buf = text.slice(start);
  });
  stream.on("end", () => {
    if (buf) online(buf);
    buf = "";
    onend?.();
  });
}

function signalNumber(s: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[s] ?? 0;
}

// ---------------------------------------------------------------------------------------------------------
// the HTTP side

export type StdioHttpOptions = {
  /** The default server, served at /mcp and /sse. */
  command?: string;
  args?: string[];
  /** Extra variables for the default server. */
  env?: Record<string, string>;
  cwd?: string;
  /** Named servers, served at /servers/NAME/mcp and /servers/NAME/sse. */
  servers?: Record<string, ServerSpec>;
  /** Whether servers inherit the whole environment (default true) or only PATH, HOME and the like. */
  passEnvironment?: boolean;
  host: string;
  port: number;
  stateless?: boolean;
  /** Origins whose browser pages may call the proxy (CORS); "*" for any. Others get 403. */
  allowOrigins?: string[];
  /** Idle sessions are closed after this long (default 30 min; 0 = never). */
  sessionTimeoutMs?: number;
  quiet?: boolean;
  log?: Log;
};

export type RunningProxy = {
  url: string;
  /** Resolves with the exit code the proxy should end with (a child that could not start, or 0 on close). */
  exited: Promise<number>;
  close(): Promise<void>;
  sessionCount(): number;
  /** Process ids of the children serving sessions (not the warm spares). */
  sessionPids(): number[];
};

type Backend = {
  /** undefined for the default server. */
  name?: string;
  label: string;
  prefix: string;
  spec: ServerSpec & { env: Record<string, string> };
  spare?: StdioChild;
  /** Some child of this server has answered a client: a later spare dying is not a broken command. */
  served: boolean;
  shared?: SharedChild;
};

/** Resolved with the child's response line, or undefined when there will be none. */
type Waiter = { resolve: (line: string | undefined) => void };

type Session = {
  id: string;
  backend: Backend;
  child: StdioChild;
  /** Requests in flight plus open streams: a busy session is never idle. */
  busy: number;
  lastActive: number;
  close(reason?: string): Promise<void>;
  transport?: {
    handleRequest(req: Request, o?: unknown): Promise<Response>;
    close(): Promise<void>;
    sessionId?: string;
  };
  /** Fast-path requests waiting for the child's response, by JSON-RPC id. */
  waiting: Map<string, Waiter>;
  /** Progress token → the response stream of the request that asked for progress. */
  progress: Map<string, ServerResponse>;
};

const MAX_BODY = 4 * 1024 * 1024;
const SSE_KEEPALIVE_MS = 25_000;

export async function startStdioHttpProxy(o: StdioHttpOptions): Promise<RunningProxy> {
  const { WebStandardStreamableHTTPServerTransport } = await import("@modelcontextprotocol/server");
  const log = o.log ?? makeLog("poke proxy", o.quiet ? "WARNING" : "INFO");
  const sessions = new Map<string, Session>();
  const allowOrigins = o.allowOrigins ?? [];
  const timeoutMs = o.sessionTimeoutMs ?? 30 * 60_000;
  const base = baseEnvironment(o.passEnvironment ?? true);
  let closing = false;
  let lastActivity = Date.now();
  let finish!: (code: number) => void;
  const exited = new Promise<number>((r) => (finish = r));

  const backends = new Map<string, Backend>();
  if (o.command) {
    backends.set("", {
      label: "the server",
      prefix: "",
      spec: { command: o.command, args: o.args ?? [], env: { ...base, ...o.env }, cwd: o.cwd },
      served: false,
    });
  }
  for (const [name, spec] of Object.entries(o.servers ?? {})) {
    backends.set(`/servers/${name}`, {
      name,
      label: `server "${name}"`,
      prefix: `/servers/${name}`,
      spec: { ...spec, env: { ...base, ...spec.env } },
      served: false,
    });
  }
  for (const b of backends.values())
    if (b.spec.cwd && !fs.statSync(b.spec.cwd, { throwIfNoEntry: false })?.isDirectory())
      throw new CliError(`${b.name ? `${b.label}: ` : ""}--cwd ${b.spec.cwd}: no such directory.`);

  const spawnChild = (b: Backend, extraEnv?: Record<string, string>) =>
    new StdioChild(b.label, { ...b.spec, env: extraEnv ? { ...b.spec.env, ...extraEnv } : b.spec.env }, log);

  // The warm spare: started now (so a broken command fails the proxy at once) and replaced when taken.
  const startSpare = (b: Backend) => {
    const child = spawnChild(b);
    b.spare = child;
    void child.exited.then((code) => {
      if (b.spare !== child || closing) return;
      b.spare = undefined;
      if (!b.served) {
        // It died before any client used it: the command itself is broken (or exits on its own).
        log.error(`${b.label} exited with code ${code} before serving a client`);
        void close(code);
      } else {
        log.warn(`${b.label}'s spare process exited (code ${code}); the next session starts a new one`);
      }
    });
  };
  const takeChild = (b: Backend, req: IncomingMessage): StdioChild => {
    const fromHeaders: Record<string, string> = {};
    for (const [headerName, variable] of Object.entries(b.spec.headerToEnv ?? {})) {
      const v = header(req, headerName.toLowerCase());
      if (v !== undefined) fromHeaders[variable] = v;
    }
    if (Object.keys(fromHeaders).length) return spawnChild(b, fromHeaders);
    const child = b.spare ?? spawnChild(b);
    startSpare(b);
    return child;
  };
  if (o.stateless)
    for (const b of backends.values())
      b.shared = new SharedChild(
        b,
        () => spawnChild(b),
        log,
        (code) => {
          // It died before ever answering initialize: the command itself is broken.
          log.error(`${b.label} exited with code ${code} before serving a client`);
          void close(code);
        },
      );
  else for (const b of backends.values()) startSpare(b);

  const server = http.createServer((req, res) => void route(req, res));
  server.keepAliveTimeout = 60_000;
  server.requestTimeout = 0; // SSE streams stay open

  const loopback = ["127.0.0.1", "localhost", "::1"].includes(o.host);

  /** CORS: an allowed Origin gets the headers; a browser page from anywhere else is refused. */
  function checkOrigin(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = header(req, "origin");
    if (origin === undefined) return true;
    const own = `http://${req.headers.host ?? ""}`;
    const allowed = allowOrigins.includes("*") || allowOrigins.includes(origin) || origin === own;
    if (!allowed) {
      res
        .writeHead(403, { "content-type": "text/plain" })
        .end(`Origin ${origin} is not allowed: start the proxy with --allow-origin ${origin}`);
      return false;
    }
    if (origin !== own) {
      res.setHeader("access-control-allow-origin", allowOrigins.includes("*") ? "*" : origin);
      res.setHeader("vary", "Origin");
      res.setHeader("access-control-expose-headers", "mcp-session-id, mcp-protocol-version");
    }
    return true;
  }

  async function route(req: IncomingMessage, res: ServerResponse) {
    try {
      const url = new URL(req.url ?? "/", "http://proxy");
      // DNS-rebinding guard: a proxy on loopback only answers to loopback Host names.
      if (loopback && !/^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i.test(req.headers.host ?? "")) {
        return void res.writeHead(403, { "content-type": "text/plain" }).end("Forbidden host");
      }
      if (!checkOrigin(req, res)) return;
      if (req.method === "OPTIONS") {
        return void res
          .writeHead(204, {
            "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
            "access-control-allow-headers":
              header(req, "access-control-request-headers") ??
              "content-type, authorization, mcp-session-id, mcp-protocol-version, last-event-id",
            "access-control-max-age": "86400",
          })
          .end();
      }
      const path = url.pathname.replace(/\/+$/, "") || "/";
      if (path === "/status" && req.method === "GET") return status(res);
      const slash = path.lastIndexOf("/");
      const backend = backends.get(path.slice(0, slash));
      const leaf = path.slice(slash + 1);
      if (backend) {
        lastActivity = Date.now();
        if (leaf === "mcp")
          return await (backend.shared ? stateless(backend, req, res) : streamable(backend, req, res));
        if (leaf === "sse" && req.method === "GET") return sseOpen(backend, req, res);
        if (leaf === "messages" && req.method === "POST") return await sseMessage(req, res, url);
      }
      const where = [...backends.values()].map((b) => `${b.prefix}/mcp`).join(", ");
      res.writeHead(404, { "content-type": "text/plain" }).end(`Not found. MCP endpoints: ${where}`);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`proxy error: ${(e as Error).message}`);
    }
  }

  function status(res: ServerResponse) {
    const instances: Record<string, string> = {};
    for (const b of backends.values()) instances[b.name ?? "default"] = "configured";
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        api_last_activity: new Date(lastActivity).toISOString(),
        server_instances: instances,
        sessions: sessions.size,
      }),
    );
  }

  const jsonError = (res: ServerResponse, status: number, code: number, message: string) =>
    void res
      .writeHead(status, { "content-type": "application/json" })
      .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }));

  async function streamable(b: Backend, req: IncomingMessage, res: ServerResponse) {
    const sid = header(req, "mcp-session-id");
    const body = req.method === "POST" ? await readJson(req) : undefined;
    let session = sid ? sessions.get(sid) : undefined;
    if (sid && (!session || session.backend !== b)) return jsonError(res, 404, -32001, "Session not found");
    if (!session) {
      if (req.method !== "POST" || !isInitialize(body?.value))
        return jsonError(res, 400, -32000, "Bad Request: start a session with initialize");
      session = openStreamableSession(b, req);
    }
    const s = session;
    s.busy++;
    s.lastActive = Date.now();
    try {
      if (sid && fastPathable(req, body?.value)) return await fastPath(s, req, res, body!);
      const response = await s.transport!.handleRequest(toWebRequest(req, body?.text), {
        parsedBody: body?.value,
      });
      if (!sid && !s.transport!.sessionId) void s.close(); // the initialize was refused: no session, no child
      await sendWebResponse(res, response);
    } finally {
      s.busy--;
      s.lastActive = Date.now();
    }
  }

  function openStreamableSession(b: Backend, req: IncomingMessage): Session {
    const child = takeChild(b, req);
    const t = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => {
        s.id = id;
        sessions.set(id, s);
        log.debug(`session ${id} opened on ${b.label} (pid ${child.pid})`);
      },
      onsessionclosed: (id) => void sessions.get(id)?.close("the client ended it"),
    });
    const s: Session = {
      id: "",
      backend: b,
      child,
      busy: 0,
      lastActive: Date.now(),
      transport: t,
      waiting: new Map(),
      progress: new Map(),
      close: async (reason) => {
        if (s.id && sessions.get(s.id) === s) {
          sessions.delete(s.id);
          if (reason) log.debug(`session ${s.id} closed: ${reason}`);
        }
        for (const w of s.waiting.values()) w.resolve(undefined);
        s.waiting.clear();
        await child.kill();
        await t.close().catch(() => {});
      },
    };
    t.onmessage = (m) => child.send(m);
    child.onmessage = (m, line) => {
      if (!b.served && "id" in m && !("method" in m)) b.served = true;
      if (deliverToFastPath(s, m, line)) return;
      void t.send(m as never).catch(() => {});
    };
    void child.exited.then((code) => {
      if (!child.wasKilled && !closing) {
        log.warn(`${b.label} exited (code ${code}) while serving session ${s.id || "(new)"}; closing it`);
        void s.close();
      }
    });
    void t.start?.();
    return s;
  }

  /** A response or progress notification for a fast-path request: true when it was delivered. */
  function deliverToFastPath(s: Session, m: Message, line: string): boolean {
    if ("id" in m && !("method" in m)) {
      const key = JSON.stringify(m.id);
      const w = s.waiting.get(key);
      if (!w) return false;
      s.waiting.delete(key);
      w.resolve(line);
      return true;
    }
    if (m.method === "notifications/progress") {
      const token = (m.params as { progressToken?: unknown } | undefined)?.progressToken;
      const stream = token === undefined ? undefined : s.progress.get(JSON.stringify(token));
      if (!stream) return false;
      stream.write(`event: message\ndata: ${line}\n\n`);
      return true;
    }
    return false;
  }

  // Hot path (tools/call and friends on an initialized session): a single JSON-RPC request is written to the
  // child and its response returned directly — as a JSON body, or as an SSE stream carrying the request's
  // progress notifications first when it asked for progress. Notifications, batches, GET streams and DELETE
  // go through the SDK transport. A client that disconnects mid-request cancels it in the child.
  async function fastPath(
    s: Session,
    req: IncomingMessage,
    res: ServerResponse,
    body: { text: string; value: unknown },
  ) {
    const msg = body.value as Message;
    const key = JSON.stringify(msg.id);
    const token = progressToken(msg);
    const streamed = token !== undefined && /text\/event-stream/i.test(header(req, "accept") ?? "");
    if (streamed) {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        "mcp-session-id": s.id,
      });
      res.flushHeaders();
      s.progress.set(JSON.stringify(token), res);
    }
    const answer = await new Promise<string | undefined>((resolve) => {
      s.waiting.set(key, { resolve });
      res.once("close", () => {
        if (s.waiting.delete(key)) {
          s.child.send({
            jsonrpc: "2.0",
            method: "notifications/cancelled",
            params: { requestId: msg.id, reason: "The HTTP client went away" },
          });
          resolve(undefined);
        }
      });
      s.child.sendText(body.text, msg);
    });
    if (streamed) s.progress.delete(JSON.stringify(token));
    if (res.writableEnded || res.destroyed) return;
    if (!answer) {
      if (streamed) return void res.end();
      return void res.writeHead(502, { "content-type": "text/plain" }).end("The server process ended");
    }
    if (streamed) return void res.end(`event: message\ndata: ${answer}\n\n`);
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(answer),
      "mcp-session-id": s.id,
    });
    res.end(answer);
  }

  function sseOpen(b: Backend, req: IncomingMessage, res: ServerResponse) {
    const id = randomUUID();
    const child = takeChild(b, req);
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
    });
    res.write(`event: endpoint\ndata: ${b.prefix}/messages?sessionId=${id}\n\n`);
    child.onmessage = (m, line) => {
      if (!b.served && "id" in m && !("method" in m)) b.served = true;
      res.write(`event: message\ndata: ${line}\n\n`);
    };
    const keepalive = setInterval(() => res.write(": keepalive\n\n"), SSE_KEEPALIVE_MS);
    keepalive.unref();
    const s: Session = {
      id,
      backend: b,
      child,
      busy: 1, // the open stream
      lastActive: Date.now(),
      waiting: new Map(),
      progress: new Map(),
      close: async (reason) => {
        if (sessions.get(id) === s) {
          sessions.delete(id);
          if (reason) log.debug(`session ${id} closed: ${reason}`);
        }
        clearInterval(keepalive);
        res.end();
        await child.kill();
      },
    };
    sessions.set(id, s);
    log.debug(`SSE session ${id} opened on ${b.label} (pid ${child.pid})`);
    req.on("close", () => void s.close("the client disconnected"));
    void child.exited.then((code) => {
      if (!child.wasKilled && !closing) {
        log.warn(`${b.label} exited (code ${code}) while serving SSE session ${id}; closing it`);
        void s.close();
      }
    });
  }

  async function sseMessage(req: IncomingMessage, res: ServerResponse, url: URL) {
    const id = url.searchParams.get("sessionId") ?? url.searchParams.get("session_id") ?? "";
    const s = sessions.get(id);
    if (!s || s.transport)
      return void res.writeHead(404, { "content-type": "text/plain" }).end("Session not found");
    const body = await readJson(req);
    if (body.value === undefined)
      return void res.writeHead(400, { "content-type": "text/plain" }).end("Invalid JSON");
    s.lastActive = Date.now();
    // Accepted first: the client is done with this POST while the server works on the message.
    res.writeHead(202, { "content-length": "0" }).end();
    if (Array.isArray(body.value)) for (const m of body.value) s.child.send(m);
    else s.child.sendText(body.text, body.value);
  }

  async function stateless(b: Backend, req: IncomingMessage, res: ServerResponse) {
    if (req.method !== "POST") {
      return void res.writeHead(405, { allow: "POST", "content-type": "application/json" }).end(
        JSON.stringify({
          jsonrpc: "2.0",
          id: null,
          error: { code: -32000, message: "Method not allowed: this proxy is stateless (POST only)" },
        }),
      );
    }
    const body = await readJson(req);
    if (body.value === undefined) return jsonError(res, 400, -32700, "Parse error: the body is not JSON");
    const batch = Array.isArray(body.value);
    const messages = (batch ? body.value : [body.value]) as Message[];
    const wantsStream = /text\/event-stream/i.test(header(req, "accept") ?? "");
    const streamed = wantsStream && messages.some((m) => progressToken(m) !== undefined);
    if (streamed) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform" });
      res.flushHeaders();
    }
    const onProgress = streamed
      ? (m: Message) => void res.write(`event: message\ndata: ${JSON.stringify(m)}\n\n`)
      : undefined;
    const aborted = new AbortController();
    res.once("close", () => aborted.abort());
    const answers = (
      await Promise.all(messages.map((m) => b.shared!.handle(m, onProgress, aborted.signal)))
    ).filter((a): a is Message => a !== undefined);
    if (res.destroyed) return;
    if (streamed) {
      for (const a of answers) res.write(`event: message\ndata: ${JSON.stringify(a)}\n\n`);
      return void res.end();
    }
    if (!answers.length) return void res.writeHead(202).end();
    const text = JSON.stringify(batch ? answers : answers[0]);
    res
      .writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
      .end(text);
  }

  // Idle sessions: no request in flight, no open stream, nothing for timeoutMs.
  const sweep =
    timeoutMs > 0
      ? setInterval(
          () => {
            const now = Date.now();
            for (const s of sessions.values()) {
              if (s.busy > 0 || now - s.lastActive < timeoutMs) continue;
              log.info(
                `closing session ${s.id} on ${s.backend.label}: idle for ${formatMs(now - s.lastActive)} ` +
                  `(--session-timeout ${formatMs(timeoutMs)}); its server process is stopped`,
              );
              void s.close();
            }
          },
          Math.max(100, Math.min(timeoutMs / 4, 60_000)),
        )
      : undefined;
  sweep?.unref();

  async function close(code = 0) {
    if (closing) return;
    closing = true;
    if (sweep) clearInterval(sweep);
    server.closeAllConnections?.();
    server.close();
    await Promise.allSettled([...sessions.values()].map((s) => s.close()));
    await Promise.allSettled(
      [...backends.values()].map((b) => Promise.all([b.spare?.kill(), b.shared?.close()])),
    );
    finish(code);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      void close(1);
      reject(
        new CliError(
          e.code === "EADDRINUSE"
            ? `Port ${o.port} on ${o.host} is in use: pick another with --port (or leave it out for a free one).`
            : e.code === "EADDRNOTAVAIL"
              ? `Cannot listen on ${o.host}: no such address on this machine (--host).`
              : `Cannot listen on ${o.host}:${o.port}: ${e.message}`,
        ),
      );
    });
    server.listen(o.port, o.host, () => resolve());
  });
  // null when a command already died and the listener was closed again (exited tells the code).
  const addr = server.address() as AddressInfo | null;
  const hostPart = addr?.family === "IPv6" ? `[${addr.address}]` : addr?.address;
  return {
    url: addr
      ? `http://${hostPart === "0.0.0.0" ? "127.0.0.1" : hostPart === "[::]" ? "[::1]" : hostPart}:${addr.port}`
      : "",
    exited,
    close: () => close(0),
    sessionCount: () => sessions.size,
    sessionPids: () => [...sessions.values()].map((s) => s.child.pid).filter((p): p is number => !!p),
  };
}

function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Math.round(ms / 100) / 10}s`;
  return `${ms}ms`;
}

function progressToken(m: Message): unknown {
  const meta = (m.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta;
  return meta?.progressToken;
}

// ---------------------------------------------------------------------------------------------------------
// stateless: one shared, proxy-initialized child per server

const PROXY_PROTOCOL_VERSION = "2025-11-25";

class SharedChild {
  private child?: StdioChild;
  private init?: Promise<Message>;
  private next = 1;
  private readonly pending = new Map<
    number,
    {
      resolve: (m: Message | undefined) => void;
      id: unknown;
      token?: unknown;
      onProgress?: (m: Message) => void;
    }
  >();

  constructor(
    private readonly backend: Backend,
    private readonly spawnChild: () => StdioChild,
    private readonly log: Log,
    private readonly onBroken: (code: number) => void,
  ) {
    this.start();
  }

  private start(): Promise<Message> {
    const child = this.spawnChild();
    this.child = child;
    child.onmessage = (m) => this.fromChild(m);
    this.init = new Promise<Message>((resolve, reject) => {
      const id = this.next++;
      this.pending.set(id, {
        id,
        resolve: (m) => {
          const result = m?.result as Message | undefined;
          if (!result) return reject(new Error(`${this.backend.label} refused initialize`));
          child.send({ jsonrpc: "2.0", method: "notifications/initialized" });
          this.backend.served = true;
          resolve(result);
        },
      });
      child.send({
        jsonrpc: "2.0",
        id,
        method: "initialize",
        params: {
          protocolVersion: PROXY_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: "poke-proxy", version: "0.1.0" },
        },
      });
    });
    this.init.catch(() => {});
    void child.exited.then((code) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (!child.wasKilled && !this.backend.served) return this.onBroken(code);
      if (!child.wasKilled)
        this.log.warn(`${this.backend.label} exited (code ${code}); restarting it on the next request`);
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.resolve(undefined);
      }
    });
    return this.init;
  }

  private fromChild(m: Message) {
    if ("id" in m && !("method" in m)) {
      const p = typeof m.id === "number" ? this.pending.get(m.id) : undefined;
      if (!p) return;
      this.pending.delete(m.id as number);
      p.resolve({ ...m, id: p.id });
      return;
    }
    if ("id" in m && typeof m.method === "string") {
      // A server→client request has nobody to answer it without a session.
      this.child?.send({
        jsonrpc: "2.0",
        id: m.id,
        error: { code: -32601, message: `${m.method} is not available: the proxy is stateless` },
      });
      return;
    }
    if (m.method === "notifications/progress") {
      const params = m.params as { progressToken?: unknown };
      const p = this.pending.get(Number(params.progressToken));
      if (p?.onProgress) p.onProgress({ ...m, params: { ...params, progressToken: p.token } });
    }
  }

  /** One message of a POST: a request gets its answer; notifications and stray responses get undefined. */
  async handle(m: Message, onProgress: ((m: Message) => void) | undefined, signal: AbortSignal) {
    if (m.method === "initialize" && "id" in m) {
      const result = await (this.child ? this.init! : this.start()).catch((e: Error) => e);
      if (result instanceof Error)
        return { jsonrpc: "2.0", id: m.id, error: { code: -32603, message: result.message } };
      return { jsonrpc: "2.0", id: m.id, result };
    }
    if (!this.child) this.start();
    const ready = await this.init!.catch((e: Error) => e);
    if (ready instanceof Error)
      return "id" in m
        ? { jsonrpc: "2.0", id: m.id, error: { code: -32603, message: ready.message } }
        : undefined;
    if (typeof m.method !== "string") return undefined; // a response to a request that was refused anyway
    if (!("id" in m)) {
      if (m.method === "notifications/initialized") return undefined;
      if (m.method === "notifications/cancelled") {
        const params = m.params as { requestId?: unknown };
        for (const [internal, p] of this.pending)
          if (JSON.stringify(p.id) === JSON.stringify(params.requestId))
            this.child?.send({ ...m, params: { ...params, requestId: internal } });
        return undefined;
      }
      this.child?.send(m);
      return undefined;
    }
    const internal = this.next++;
    const token = progressToken(m);
    let params = m.params as Message | undefined;
    if (token !== undefined)
      params = { ...params, _meta: { ...(params?._meta as Message), progressToken: internal } };
    const answer = new Promise<Message | undefined>((resolve) =>
      this.pending.set(internal, { resolve, id: m.id, token, onProgress }),
    );
    signal.addEventListener("abort", () => {
      if (!this.pending.delete(internal)) return;
      this.child?.send({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: internal, reason: "The HTTP client went away" },
      });
    });
    this.child!.send({ ...m, id: internal, ...(params ? { params } : {}) });
    return (
      (await answer) ?? {
        jsonrpc: "2.0",
        id: m.id,
        error: { code: -32603, message: `${this.backend.label} ended before answering` },
      }
    );
  }

  async close() {
    const c = this.child;
    this.child = undefined;
    await c?.kill();
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP helpers

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

function readJson(req: IncomingMessage): Promise<{ text: string; value: unknown }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        req.destroy();
        reject(new Error("request body too large"));
      } else chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      const text = chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8");
      try {
        resolve({ text, value: text ? JSON.parse(text) : undefined });
      } catch {
        resolve({ text, value: undefined });
      }
    });
  });
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
