// HTTP → stdio: makes a remote MCP server (Streamable HTTP or legacy SSE) usable by a stdio-only client.
//
// The proxy first connects with the v2 client (auto era negotiation; Streamable HTTP, falling back to SSE on
// 400/404/405 unless --transport says which) so a wrong URL, token or certificate fails at once with a
// message that says what to do. Then:
// - a server of the initialize era (2024-11-05 … 2025-11-25, nearly all servers) is relayed message for
//   message: the stdio client's own initialize opens its own remote session, and every request, response
//   and notification — progress, cancellation, server→client requests, the server's title and
//   instructions — crosses unchanged in both directions. A session the server forgot (404) is opened again
//   with the client's initialize and the request retried.
// - a 2026-era server (no initialize, no sessions) is served through the SDK's server on stdio, forwarding
//   tools, prompts, resources and completions with their progress and cancellation.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { CliError } from "./args";
import type { ClientConfig } from "./proxy-args";
import { SseRelay, StreamableHttpRelay } from "./proxy-http";
import { onLines, type Log } from "./proxy-server";

type Message = Record<string, unknown>;
type ClientModule = typeof import("@modelcontextprotocol/client");
type RemoteTransport = {
  start(): Promise<void>;
  send(m: Message): Promise<void>;
  close(): Promise<void>;
  onmessage?: (m: Message) => void;
  onerror?: (e: Error) => void;
  onclose?: () => void;
  setProtocolVersion?: (v: string) => void;
  terminateSession?: () => Promise<void>;
  sessionId?: string;
};

const CONNECT_TIMEOUT_MS = 15_000;

export async function httpToStdio(cfg: ClientConfig, log: Log): Promise<number> {
  const sdk = await import("@modelcontextprotocol/client");
  const url = new URL(cfg.url);
  const tls = tlsOptions(cfg);
  const fetchFn = makeFetch(cfg, tls);
  const hasToken = Object.keys(cfg.headers).some((h) => h.toLowerCase() === "authorization");

  const make = (kind: "sse" | "streamablehttp"): RemoteTransport =>
    (kind === "sse"
      ? new sdk.SSEClientTransport(url, { fetch: fetchFn })
      : new sdk.StreamableHTTPClientTransport(url, { fetch: fetchFn })) as unknown as RemoteTransport;

  // The check: connect once, learn the transport and the era, and explain any failure.
  let kind: "sse" | "streamablehttp" = cfg.transport ?? "streamablehttp";
  // A 2026-era server announces list changes only on a subscription, which the client opens when asked to
  // watch lists; serveModern passes them on.
  const listChanged = {
    onChanged: undefined as ((list: "tools" | "prompts" | "resources") => void) | undefined,
  };
  const watch = (list: "tools" | "prompts" | "resources") => ({
    autoRefresh: false,
    onChanged: () => listChanged.onChanged?.(list),
  });
  const newClient = () =>
    new sdk.Client(
      { name: "poke-proxy", version: "0.1.0" },
      {
        versionNegotiation: { mode: "auto" },
        listChanged: { tools: watch("tools"), prompts: watch("prompts"), resources: watch("resources") },
      },
    );
  let probe = newClient();
  try {
    await probe.connect(make(kind) as never, { timeout: CONNECT_TIMEOUT_MS });
  } catch (e) {
    await probe.close().catch(() => {});
    const status = e instanceof sdk.SdkHttpError ? e.status : undefined;
    const fallback = !cfg.transport && status !== undefined && [400, 404, 405].includes(status);
    if (!fallback) throw new CliError(connectError(sdk, e, url, hasToken, kind));
    kind = "sse";
    probe = newClient();
    try {
      await probe.connect(make(kind) as never, { timeout: CONNECT_TIMEOUT_MS });
    } catch (e2) {
      const s2 = e2 instanceof sdk.SdkHttpError ? e2.status : undefined;
      if (s2 !== undefined && [404, 405].includes(s2))
        throw new CliError(
          `Cannot connect to ${url.href}: no MCP server there (HTTP ${status} to Streamable HTTP, ${s2} to SSE). ` +
            "Check the path (often /mcp or /sse).",
        );
      throw new CliError(connectError(sdk, e2, url, hasToken, kind));
    }
  }
  const info = probe.getServerVersion();
  const era = probe.getProtocolEra();
  log.info(
    `connected to ${url.host} (${info?.title ?? info?.name ?? "server"}, ${kind === "sse" ? "SSE" : "Streamable HTTP"}, ` +
      `protocol ${probe.getNegotiatedProtocolVersion()})`,
  );
  if (era === "modern") return serveModern(probe, url, log, listChanged);
  await probe.close().catch(() => {});
  return relay(
    () =>
      kind === "sse"
        ? new SseRelay(url, { headers: cfg.headers, tls })
        : new StreamableHttpRelay(url, { headers: cfg.headers, tls }),
    url,
    log,
  );
}

// ---------------------------------------------------------------------------------------------------------
// initialize era: a message relay

async function relay(make: () => RemoteTransport, url: URL, log: Log): Promise<number> {
  const out = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`);
  let remote: RemoteTransport | undefined;
  let opening: Promise<RemoteTransport> | undefined;
  let initialize: Message | undefined;
  let initialized = false;
  let stopping = false;
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const t = remote;
    remote = undefined;
    await t?.terminateSession?.().catch(() => {});
    await t?.close().catch(() => {});
    finish(code);
  };

  // Opens a remote session with the client's initialize. The answer goes to the client (or, when the session
  // is re-opened after the server forgot it, is absorbed and followed by notifications/initialized).
  const open = (replay: boolean): Promise<RemoteTransport> => {
    const t = make();
    const initId = replay ? `poke-proxy-reinit-${Date.now()}` : initialize!.id;
    return new Promise<RemoteTransport>((resolve, reject) => {
      t.onmessage = (m) => {
        if (m.id === initId && !("method" in m)) {
          const result = m.result as { protocolVersion?: string } | undefined;
          if (result?.protocolVersion) t.setProtocolVersion?.(result.protocolVersion);
          t.onmessage = (msg) => out(msg);
          if (!replay) out(m);
          if (result) resolve(t);
          else reject(new Error(`the server refused initialize: ${JSON.stringify(m.error)}`));
          return;
        }
        out(m); // e.g. a log notification before the answer
      };
      t.onerror = (e) => log.debug(`transport: ${e.message}`);
      t.onclose = () => {
        if (remote === t && !stopping) {
          log.error(`the connection to ${url.host} closed`);
          void stop(1);
        }
      };
      void t
        .start()
        .then(() => t.send({ ...initialize!, id: initId }))
        .then(async () => {
          // For a replay the client already sent its initialized notification once; the new session needs one.
          if (replay && initialized) await t.send({ jsonrpc: "2.0", method: "notifications/initialized" });
        })
        .catch(reject);
    });
  };

  const answerError = (m: Message, message: string, code = -32603) => {
    if ("id" in m && typeof m.method === "string")
      out({ jsonrpc: "2.0", id: m.id, error: { code, message } });
  };

  const forward = async (m: Message, retried = false): Promise<void> => {
    const t = remote ?? (opening ? await opening.catch(() => undefined) : undefined);
    if (!t) return answerError(m, `Not connected to ${url.host}: the session could not be opened`);
    try {
      await t.send(m);
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 404 && !retried && initialize && !stopping) {
        // The server forgot the session (restart, expiry): open a new one and send again.
        log.warn(`${url.host} no longer knows the session; opening a new one`);
        if (remote === t) {
          remote = undefined;
          opening = open(true).then((n) => (remote = n));
        }
        return forward(m, true);
      }
      log.warn(`sending ${String(m.method ?? "a response")} to ${url.host} failed: ${(e as Error).message}`);
      answerError(m, requestError(e, url));
    }
  };

  onLines(
    process.stdin,
    (line) => {
      if (!line.trim() || stopping) return;
      let m: Message;
      try {
        m = JSON.parse(line) as Message;
      } catch {
        return out({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
      }
      if (m.method === "initialize" && "id" in m) {
        if (initialize) return answerError(m, "Already initialized", -32600);
        initialize = m;
        opening = open(false).then((t) => (remote = t));
        opening.catch((e: Error) => {
          answerError(m, `Cannot open a session on ${url.host}: ${e.message}`);
          log.error(`cannot open a session on ${url.host}: ${e.message}`);
        });
        return;
      }
      if (m.method === "notifications/initialized") initialized = true;
      if (remote) void forward(m);
      else if (!initialize) answerError(m, "Send initialize first", -32600);
      else void forward(m);
    },
    () => void stop(0),
  );
  process.once("SIGINT", () => void stop(0));
  process.once("SIGTERM", () => void stop(0));
  return done;
}

// ---------------------------------------------------------------------------------------------------------
// 2026 era: the SDK's server on stdio, forwarding to the connected client

async function serveModern(
  remote: InstanceType<ClientModule["Client"]>,
  url: URL,
  log: Log,
  listChanged: { onChanged?: (list: "tools" | "prompts" | "resources") => void },
): Promise<number> {
  const { Server } = await import("@modelcontextprotocol/server");
  const { serveStdio } = await import("@modelcontextprotocol/server/stdio");
  const servers = new Set<InstanceType<typeof Server>>();
  const notifyAll = (fn: (s: InstanceType<typeof Server>) => Promise<void> | void) => {
    for (const s of servers) void Promise.resolve(fn(s)).catch(() => {});
  };
  listChanged.onChanged = (list) =>
    notifyAll((s) =>
      list === "tools"
        ? s.sendToolListChanged()
        : list === "prompts"
          ? s.sendPromptListChanged()
          : s.sendResourceListChanged(),
    );
  const caps = remote.getServerCapabilities() ?? {};
  const info = remote.getServerVersion();

  type Ctx = {
    mcpReq: {
      signal: AbortSignal;
      _meta?: { progressToken?: string | number };
      notify(n: unknown): Promise<void>;
    };
  };
  // Cancellation travels as the request's signal; progress comes back under the client's own token.
  const opts = (ctx: Ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    return {
      signal: ctx.mcpReq.signal,
      timeout: 300_000,
      resetTimeoutOnProgress: true,
      onprogress:
        token === undefined
          ? undefined
          : (p: Record<string, unknown>) =>
              void ctx.mcpReq
                .notify({ method: "notifications/progress", params: { ...p, progressToken: token } })
                .catch(() => {}),
    };
  };
  const build = () => {
    const capabilities: Record<string, unknown> = {};
    if (caps.tools) capabilities.tools = { listChanged: true };
    if (caps.prompts) capabilities.prompts = { listChanged: true };
    if (caps.resources) capabilities.resources = { listChanged: true };
    if (caps.completions) capabilities.completions = {};
    if (caps.logging) capabilities.logging = {};
    const s = new Server(
      { ...info, name: info?.name ?? "poke-proxy", version: info?.version ?? "0.1.0" },
      { capabilities, instructions: remote.getInstructions() },
    );
    if (caps.tools) {
      s.setRequestHandler("tools/list", (r, ctx) => remote.listTools(r.params, opts(ctx as never)));
      s.setRequestHandler("tools/call", (r, ctx) => remote.callTool(r.params, opts(ctx as never)) as never);
    }
    if (caps.prompts) {
      s.setRequestHandler("prompts/list", (r, ctx) => remote.listPrompts(r.params, opts(ctx as never)));
      s.setRequestHandler("prompts/get", (r, ctx) => remote.getPrompt(r.params, opts(ctx as never)));
    }
    if (caps.resources) {
      s.setRequestHandler("resources/list", (r, ctx) => remote.listResources(r.params, opts(ctx as never)));
      s.setRequestHandler("resources/templates/list", (r, ctx) =>
        remote.listResourceTemplates(r.params, opts(ctx as never)),
      );
      s.setRequestHandler("resources/read", (r, ctx) => remote.readResource(r.params, opts(ctx as never)));
    }
    if (caps.completions)
      s.setRequestHandler("completion/complete", (r, ctx) => remote.complete(r.params, opts(ctx as never)));
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
    let stopped = false;
    const stop = (code: number) => {
      if (stopped) return;
      stopped = true;
      void handle
        .close()
        .catch(() => {})
        .then(() => remote.close().catch(() => {}))
        .then(() => resolve(code));
    };
    process.stdin.on("end", () => stop(0));
    process.once("SIGINT", () => stop(0));
    process.once("SIGTERM", () => stop(0));
    remote.onclose = () => {
      log.error(`the connection to ${url.host} closed`);
      stop(1);
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// fetch with headers and TLS settings; errors that say what to do

/** TLS settings for --no-verify-ssl / --verify-ssl=FILE (undefined: Node's defaults). */
function tlsOptions(cfg: ClientConfig): { rejectUnauthorized?: boolean; ca?: string } | undefined {
  if (cfg.verifySsl === true) return undefined;
  if (cfg.verifySsl === false) return { rejectUnauthorized: false };
  try {
    return { ca: fs.readFileSync(cfg.verifySsl, "utf8") };
  } catch (e) {
    throw new CliError(
      `--verify-ssl: cannot read the CA bundle ${cfg.verifySsl} (${(e as NodeJS.ErrnoException).code}).`,
    );
  }
}

/**
 * The fetch the SDK's connection check uses: with the configured headers, and over node:https with the TLS
 * settings when they differ from the defaults (Node's own fetch cannot take them).
 */
function makeFetch(cfg: ClientConfig, tls: ReturnType<typeof tlsOptions>): typeof fetch {
  const base: typeof fetch = tls ? httpsFetch(new https.Agent({ keepAlive: true, ...tls })) : fetch;
  const extra = Object.entries(cfg.headers);
  if (!extra.length) return base;
  return (input, init) => {
    const headers = new Headers(init?.headers);
    // The transport's own headers (session, protocol version) win; the configured ones fill the rest.
    for (const [k, v] of extra) if (!headers.has(k)) headers.set(k, v);
    return base(input, { ...init, headers });
  };
}

function httpsFetch(agent: https.Agent): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const client = url.protocol === "https:" ? https : http;
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
      const body = init?.body;
      if (body !== undefined && body !== null && typeof body !== "string")
        return reject(new Error("only string request bodies are supported"));
      const req = client.request(
        url,
        { method: init?.method ?? "GET", headers, agent: url.protocol === "https:" ? agent : undefined },
        (res) => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) h.append(k, one);
          const status = res.statusCode ?? 0;
          const empty = status === 204 || status === 304 || init?.method === "HEAD";
          if (empty) res.resume();
          resolve(
            new Response(empty ? null : (Readable.toWeb(res) as ReadableStream), {
              status,
              statusText: res.statusMessage,
              headers: h,
            }),
          );
        },
      );
      req.on("error", (e) => reject(new TypeError("fetch failed", { cause: e })));
      const signal = init?.signal;
      if (signal) {
        if (signal.aborted) req.destroy(signal.reason as Error);
        signal.addEventListener("abort", () => req.destroy(signal.reason as Error), { once: true });
      }
      req.end(body ?? undefined);
    });
}

function errorMessages(e: unknown): string[] {
  const out: string[] = [];
  for (let c = e as { message?: unknown; cause?: unknown } | undefined, n = 0; c && n < 8; n++) {
    if (typeof c.message === "string") out.push(c.message);
    c = c.cause as typeof c;
  }
  return out;
}

/** The codes of an error and its causes (fetch failed ← ECONNREFUSED, …). */
function errorCodes(e: unknown): string[] {
  const codes: string[] = [];
  for (
    let c = e as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined, n = 0;
    c && n < 8;
    n++
  ) {
    if (typeof c.code === "string") codes.push(c.code);
    if (Array.isArray(c.errors)) for (const x of c.errors) codes.push(...errorCodes(x));
    c = c.cause as typeof c;
  }
  return codes;
}

function networkReason(e: unknown, url: URL): string | undefined {
  const codes = errorCodes(e);
  if (errorMessages(e).includes("bad port"))
    return `port ${url.port} is one that fetch refuses to use (a well-known port of another protocol). Use another port.`;
  const has = (...xs: string[]) => xs.some((x) => codes.includes(x));
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  if (has("ECONNREFUSED"))
    return `connection refused on port ${port}. Is the server running, and is the URL right?`;
  if (has("ENOTFOUND", "EAI_AGAIN")) return `the host ${url.hostname} was not found. Check the URL.`;
  if (has("ECONNRESET", "UND_ERR_SOCKET"))
    return "the server closed the connection. Is it an MCP server (and HTTP vs HTTPS right)?";
  const tls = codes.find((c) => /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(c));
  if (tls)
    return `its TLS certificate is not trusted (${tls}). Pass --verify-ssl=/path/to/ca.pem, or --no-verify-ssl for a server you trust.`;
  if (has("ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "REQUEST_TIMEOUT", "RequestTimeout"))
    return `no answer within ${CONNECT_TIMEOUT_MS / 1000} s. Is the server up and reachable?`;
  if (codes.includes("EPROTO") || codes.includes("ERR_SSL_WRONG_VERSION_NUMBER"))
    return "TLS failed. Is the URL's scheme right (http vs https)?";
  return undefined;
}

function connectError(sdk: ClientModule, e: unknown, url: URL, hasToken: boolean, kind: string): string {
  const head = `Cannot connect to ${url.href}:`;
  const status =
    e instanceof sdk.SdkHttpError
      ? e.status
      : e instanceof sdk.UnauthorizedError
        ? 401
        : ((e as { status?: number; code?: unknown }).status ??
          (typeof (e as { code?: unknown }).code === "number"
            ? ((e as { code: number }).code as number)
            : undefined));
  if (status === 401)
    return hasToken
      ? `${head} the server refused the token (401 Unauthorized). Check --api-access-token, API_ACCESS_TOKEN or --headers Authorization.`
      : `${head} the server wants a token (401 Unauthorized). Pass --api-access-token TOKEN (or API_ACCESS_TOKEN, or --headers Authorization 'Bearer TOKEN').`;
  if (status === 403) return `${head} access refused (403 Forbidden). The token does not allow this server.`;
  const net = networkReason(e, url);
  if (net) return `${head} ${net}`;
  if (status === 404 || status === 405)
    return `${head} no MCP server there over ${kind === "sse" ? "SSE" : "Streamable HTTP"} (HTTP ${status}). Check the path${kind === "sse" ? " or try --transport streamablehttp" : " or try --transport sse"}.`;
  if (status !== undefined && status >= 500)
    return `${head} the server failed (HTTP ${status}). Try again later or check its logs.`;
  return `${head} ${(e as Error).message ?? String(e)}`;
}

function requestError(e: unknown, url: URL): string {
  const status = (e as { status?: number }).status;
  if (status === 401) return `${url.host} refused the token (401 Unauthorized)`;
  if (status === 403) return `${url.host} refused access (403 Forbidden)`;
  const net = networkReason(e, url);
  if (net) return `${url.host}: ${net}`;
  return `${url.host}: ${(e as Error).message}`;
}
