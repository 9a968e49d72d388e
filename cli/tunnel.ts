// poke tunnel — makes a local MCP server reachable by the Poke app through one outbound WebSocket.
// The app sends HTTP exchanges as multiplexed streams (lib/tunnel/protocol.ts); this side forwards each one
// to the ONE local URL fixed at start (anything else is refused), streams the response back, and logs a
// line per request (method, path, status, latency — never header values).
import fs from "node:fs";
import WebSocket from "ws";
import {
  CLOSE,
  DEFAULT_HEARTBEAT_MS,
  forwardableHeaders,
  INLINE_BODY_BYTES,
  MAX_FRAME_BYTES,
  MAX_STREAMS,
  Mux,
  PROTOCOL_VERSION,
  TUNNEL_PATH,
  type ControlFrame,
  type HelloFrame,
  type OAuthHello,
  type ReadyFrame,
  type ReqFrame,
} from "../lib/tunnel/protocol";
import { CliError, commonOptions, parse, parseEnvPairs, showHelp, splitCommand, UsageError } from "./args";
import { resolveAuth } from "./config";
import { parseClientPrivateKey, type ClientKey } from "../lib/oauth/client-key";

export const TUNNEL_HELP = `Usage: poke tunnel <local-url> -n <name> [--client-id ID [--client-secret SECRET | --client-key FILE]]
       poke tunnel --stdio -n <name> [--env KEY=VALUE]… -- <command> [args…]

Makes a local MCP server reachable by Poke: opens an outbound WebSocket to the app (authenticated
with your login), which creates (or revives) the integration <name>, connects and lists its tools.
Each forwarded request is logged. Poke can reach only <local-url> (and paths below it, plus the
endpoints the server itself names on its own origin: OAuth's, and a legacy SSE server's message
endpoint) — nothing else on your machine. Stops with Ctrl+C; the integration then shows offline. Network drops
reconnect automatically with backoff; requests in flight when the connection drops fail (never replayed).

Options:
  -n, --name NAME          integration name (created on first use, revived afterwards)
  --client-id ID           OAuth client id pre-registered at the local server's authorization server
  --client-secret SECRET   its secret (the integration then uses OAuth without dynamic registration);
                           "-" reads it from standard input, and without this option it is taken from
                           POKE_CLIENT_SECRET — both keep it out of the process list, where a value
                           given on the command line can be seen by every user of the machine
  --client-key FILE        a private key (PEM or JWK; EC P-256 or RSA) instead of a secret: the client
                           authenticates with signed JWTs (private_key_jwt); its public JWK is printed
                           for registering at the authorization server
  --client-auth basic|post how the client authenticates at the token endpoint (default: detected)
  --stdio                  run <command> as a stdio MCP server and tunnel to it (via poke proxy)
  --env KEY=VALUE          extra environment for the --stdio command (repeatable)
  --url URL                Poke server (default: your login)
  -h, --help               show this help

Examples:
  poke tunnel http://localhost:3000/mcp -n my-local-server
  POKE_CLIENT_SECRET=… poke tunnel http://localhost:3000/mcp -n my-server --client-id poke
  pass show my-server/secret | poke tunnel http://localhost:3000/mcp -n my-server --client-id poke --client-secret -
  poke tunnel --stdio -n files -- npx -y @modelcontextprotocol/server-filesystem ~/notes`;

const FATAL_CODES = new Set([
  "name_taken",
  "invalid_name",
  "unsupported_version",
  "bad_url",
  "unauthorized",
  "invalid_token",
  "token_revoked",
  "token_expired",
]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;

export async function tunnel(argv: string[]): Promise<number> {
  const { own, command } = splitCommand(argv);
  const { values, positionals } = parse(
    own,
    {
      ...commonOptions,
      name: { type: "string", short: "n" },
      "client-id": { type: "string" },
      "client-secret": { type: "string" },
      "client-key": { type: "string" },
      "client-auth": { type: "string" },
      stdio: { type: "boolean" },
      env: { type: "string", multiple: true },
      "heartbeat-ms": { type: "string" },
    },
    TUNNEL_HELP,
  );
  if (values.help) return showHelp(TUNNEL_HELP);
  if (!values.name) throw new UsageError("Name the integration with -n <name>.", TUNNEL_HELP);
  if (values["client-secret"] && !values["client-id"])
    throw new UsageError("--client-secret needs --client-id.", TUNNEL_HELP);
  if (values["client-key"] && (!values["client-id"] || values["client-secret"] || values["client-auth"]))
    throw new UsageError("--client-key needs --client-id, and replaces --client-secret.", TUNNEL_HELP);
  if (values["client-secret"] === "-" && values.stdio)
    throw new UsageError("--client-secret - reads standard input, which --stdio can't share.", TUNNEL_HELP);
  const auth = resolveAuth(values.url);
  const heartbeatMs = Number(
    values["heartbeat-ms"] ?? process.env.POKE_TUNNEL_HEARTBEAT_MS ?? DEFAULT_HEARTBEAT_MS,
  );

  let target: URL;
  let stopLocal: (() => Promise<void>) | undefined;
  let childExit: Promise<number> | undefined;
  if (values.stdio) {
    if (!command.length) throw new UsageError("--stdio needs a command after --.", TUNNEL_HELP);
    if (positionals.length) throw new UsageError("--stdio takes no local URL.", TUNNEL_HELP);
    const { startStdioHttpProxy } = await import("./proxy");
    const proxy = await startStdioHttpProxy({
      command: command[0],
      args: command.slice(1),
      env: parseEnvPairs(values.env, TUNNEL_HELP),
      host: "127.0.0.1",
      port: 0,
      quiet: true,
    });
    target = new URL(`${proxy.url}/mcp`);
    stopLocal = proxy.close;
    childExit = proxy.exited;
    console.log(`Serving \`${command.join(" ")}\` on ${target.href}`);
  } else {
    if (positionals.length !== 1) throw new UsageError("Give the local server's URL.", TUNNEL_HELP);
    try {
      target = new URL(positionals[0]);
    } catch {
      throw new UsageError(`"${positionals[0]}" is not a URL (e.g. http://localhost:3000/mcp).`, TUNNEL_HELP);
    }
    if (target.protocol !== "http:" && target.protocol !== "https:")
      throw new UsageError("The local URL must be http:// or https://.", TUNNEL_HELP);
    if (target.username || target.password)
      throw new UsageError("Remove credentials from the local URL.", TUNNEL_HELP);
    target.hash = "";
  }

  let oauth: OAuthHello | undefined;
  let oauthPaths = new Set<string>();
  if (values["client-id"] && values["client-key"]) {
    const key = clientKey(values["client-key"]);
    const found = await discoverLocalOAuth(target);
    oauth = { clientId: values["client-id"], issuer: found.issuer, clientPrivateKey: key.pem };
    oauthPaths = found.paths;
    console.log(`Client key: ${key.alg}. Register this public key for ${values["client-id"]}:`);
    console.log(JSON.stringify(key.publicJwk));
    if (found.issuer) console.log(`Local authorization server: ${found.issuer}`);
  } else if (values["client-id"]) {
    const found = await discoverLocalOAuth(target);
    const secret = await clientSecret(values["client-secret"]);
    const flag = values["client-auth"];
    if (flag !== undefined && flag !== "basic" && flag !== "post")
      throw new UsageError("--client-auth is basic or post.", TUNNEL_HELP);
    if (flag && !secret) throw new UsageError("--client-auth needs --client-secret.", TUNNEL_HELP);
    oauth = {
      clientId: values["client-id"],
      clientSecret: secret,
      issuer: found.issuer,
      tokenEndpointAuthMethod: !secret
        ? "none"
        : flag
          ? (`client_secret_${flag}` as const)
          : await detectClientAuth(found, values["client-id"], secret),
    };
    oauthPaths = found.paths;
    if (found.issuer) console.log(`Local authorization server: ${found.issuer}`);
    else console.log("Could not discover the local authorization server yet; Poke will when it connects.");
  }

  const client = new TunnelClient({
    appUrl: auth.url,
    token: auth.token,
    name: values.name,
    target,
    heartbeatMs,
    oauth,
    oauthPaths,
  });
  const code = await Promise.race([
    client.run(),
    childExit?.then((c) => (client.stop(), c)) ?? new Promise<number>(() => {}),
  ]);
  await stopLocal?.();
  return code;
}

/** --client-key's file, read and checked (an unusable key stops here, before anything is sent). */
function clientKey(file: string): ClientKey {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`--client-key: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseClientPrivateKey(text);
  } catch (err) {
    throw new CliError(`--client-key: ${(err as Error).message}`);
  }
}

/** --client-secret's value; "-" reads the first line of standard input; absent, POKE_CLIENT_SECRET. */
async function clientSecret(flag: string | undefined): Promise<string | undefined> {
  if (flag !== "-") return flag || process.env.POKE_CLIENT_SECRET || undefined;
  if (process.stdin.isTTY) process.stderr.write("Client secret: ");
  const { createInterface } = await import("node:readline");
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let line: string | undefined;
  for await (const l of lines) {
    line = l;
    break;
  }
  lines.close();
  process.stdin.destroy();
  if (!line?.trim()) throw new UsageError("--client-secret -: standard input held no secret.", TUNNEL_HELP);
  return line.trim();
}

type ClientOptions = {
  appUrl: string;
  token: string;
  name: string;
  target: URL;
  heartbeatMs: number;
  oauth?: OAuthHello;
  oauthPaths: Set<string>;
};

class TunnelClient {
  private ws?: WebSocket;
  private attempt = 0;
  private stopping = false;
  private finish!: (code: number) => void;
  private lastPing = Date.now();
  private watchdog?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private fatal?: string;
  private everReady = false;
  /**
   * Paths the target itself revealed, same origin only: the legacy SSE message endpoint, and the token,
   * registration and revocation endpoints its authorization server's metadata names.
   */
  private readonly learned: Set<string>;

  constructor(private readonly o: ClientOptions) {
    this.learned = new Set(o.oauthPaths);
  }

  run(): Promise<number> {
    return new Promise<number>((resolve) => {
      this.finish = (code) => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolve(code);
      };
      const onSignal = () => this.stop();
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      this.connect();
    });
  }

  /** Ctrl+C: close cleanly so the app marks the integration offline at once. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.watchdog);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return this.finish(0);
    console.log("Stopping the tunnel…");
    ws.close(CLOSE.normal, "poke tunnel stopped");
    setTimeout(() => ws.terminate(), 2000).unref();
  }

  private connect(): void {
    const wsUrl = this.o.appUrl.replace(/^http/, "ws") + TUNNEL_PATH;
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${this.o.token}` },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    this.ws = ws;
    const mux = new Mux(
      {
        send: (d) => ws.send(d),
        bufferedAmount: () => ws.bufferedAmount,
        isOpen: () => ws.readyState === WebSocket.OPEN,
      },
      (f) => this.onControl(f, mux),
    );
    ws.on("open", () => {
      this.lastPing = Date.now();
      const hello: HelloFrame = {
        t: "hello",
        v: PROTOCOL_VERSION,
        name: this.o.name,
        target: this.o.target.href,
        heartbeatMs: this.o.heartbeatMs,
        ...(this.o.oauth ? { oauth: this.o.oauth } : {}),
      };
      ws.send(JSON.stringify(hello));
      // The server pings every heartbeat; silence for three of them means the path is dead.
      clearInterval(this.watchdog);
      this.watchdog = setInterval(() => {
        if (Date.now() - this.lastPing > 3 * this.o.heartbeatMs) {
          console.log("Lost the heartbeat from Poke; reconnecting…");
          ws.terminate();
        }
      }, this.o.heartbeatMs);
    });
    ws.on("ping", () => (this.lastPing = Date.now()));
    ws.on("message", (data, isBinary) => {
      try {
        mux.receive(isBinary ? toBytes(data) : data.toString());
      } catch (e) {
        console.error(`poke: protocol error from the server: ${(e as Error).message}`);
        ws.close(CLOSE.protocol, "protocol error");
      }
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString().slice(0, 2000)));
      res.on("end", () => {
        let msg = `HTTP ${res.statusCode}`;
        try {
          msg = JSON.parse(body).error.message ?? msg;
        } catch {
          /* not our JSON */
        }
        if (res.statusCode === 401) this.fatal = `${msg}`;
        else console.error(`poke: the server refused the tunnel: ${msg}`);
        ws.terminate();
      });
    });
    ws.on("error", (err) => {
      if (!this.stopping && !this.fatal)
        console.error(`poke: tunnel connection error: ${describeError(err)}`);
    });
    ws.on("close", (code, reason) => {
      clearInterval(this.watchdog);
      mux.failAll(new Error("tunnel connection closed"));
      if (this.stopping) return this.finish(0);
      if (code === CLOSE.replaced) {
        console.error(
          `poke: ${reason.toString() || "another poke tunnel took over this integration"}; exiting.`,
        );
        return this.finish(1);
      }
      if (this.fatal) {
        console.error(`poke: ${this.fatal}`);
        return this.finish(1);
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    // Capped exponential backoff with jitter (half fixed, half random) so many CLIs don't reconnect in step.
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt++);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    console.log(`Tunnel offline; reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onControl(f: ControlFrame, mux: Mux): void {
    switch (f.t) {
      case "ready":
        return this.onReady(f);
      case "error":
        if (FATAL_CODES.has(f.code) || f.code === "protocol_error") this.fatal = f.message;
        else console.error(`poke: ${f.message}`);
        return;
      case "req":
        void this.onRequest(f, mux);
        return;
      case "status":
        if (f.message) console.log(f.message);
        return;
      default:
        throw new Error(`unexpected ${f.t} frame`);
    }
  }

  private onReady(f: ReadyFrame): void {
    this.attempt = 0;
    const verb = this.everReady ? "Reconnected" : f.revived ? "Revived" : "Created";
    this.everReady = true;
    console.log(`${verb} integration "${f.name}" (${f.integrationId}) → ${this.o.target.href}`);
    if (f.error) {
      console.log(`Tunnel online, but connecting failed: ${f.error.message}`);
      if (f.authorizeUrl) console.log(`Authorize it at ${f.authorizeUrl} (click Authorize).`);
    } else {
      const d = f.diff;
      const changes = d
        ? [
            d.added.length && `added: ${d.added.join(", ")}`,
            d.removed.length && `removed: ${d.removed.join(", ")}`,
          ]
            .filter(Boolean)
            .join(" · ")
        : "";
      console.log(
        `Tunnel online: ${f.toolCount ?? 0} tools${changes ? ` (${changes})` : ""}. Ctrl+C to stop.`,
      );
    }
  }

  /**
   * Only the target's origin, and there only: the target's path or below, its OAuth discovery documents
   * (GET), and the paths it revealed itself (see `learned`). The authorization endpoint is not among them:
   * the person's browser opens it directly.
   */
  private allowed(url: URL, method: string): boolean {
    const t = this.o.target;
    if (url.origin !== t.origin || url.username || url.password) return false;
    const base = t.pathname.replace(/\/+$/, "");
    if (url.pathname === t.pathname || url.pathname === base || url.pathname.startsWith(`${base}/`))
      return true;
    if (this.learned.has(url.pathname)) return true;
    return method === "GET" && DISCOVERY_PATH.test(url.pathname);
  }

  /** Learns the OAuth endpoints named by authorization-server metadata the target served. */
  private learnEndpoints(text: string): void {
    let meta: unknown;
    try {
      meta = JSON.parse(text);
    } catch {
      return;
    }
    for (const path of sameOriginEndpoints(meta, this.o.target)) this.learned.add(path);
  }

  private async onRequest(f: ReqFrame, mux: Mux): Promise<void> {
    const started = performance.now();
    const method = f.method.toUpperCase();
    if (mux.streams.size >= MAX_STREAMS) {
      mux.sendControl({
        t: "reset",
        id: f.id,
        code: "too_many_streams",
        message: "too many concurrent requests",
      });
      return;
    }
    let stream;
    try {
      stream = mux.open(f.id);
    } catch {
      return; // duplicate id: ignore the frame
    }
    let url: URL;
    try {
      url = new URL(f.url);
    } catch {
      stream.reset("refused_target", "malformed URL");
      return;
    }
    if (!this.allowed(url, method)) {
      stream.reset("refused_target", `poke tunnel forwards only to ${this.o.target.href}`);
      logLine(method, url.pathname, "refused", started);
      return;
    }
    // An inline body goes straight to fetch below; otherwise body frames feed stream.readable.
    if (f.text !== undefined || !f.body) stream.endInbound();
    const ac = new AbortController();
    stream.onClose = (err) => {
      if (err) ac.abort(err);
    };
    const headers = new Headers();
    for (const [k, v] of forwardableHeaders(f.headers)) headers.append(k, v);
    // Bodies pass through untouched: ask for no compression instead of decoding and re-encoding.
    headers.set("accept-encoding", "identity");
    try {
      const res = await fetch(url, {
        method,
        headers,
        body:
          method === "GET" || method === "HEAD"
            ? undefined
            : f.text !== undefined
              ? f.text
              : f.body
                ? stream.readable
                : undefined,
        signal: ac.signal,
        redirect: "manual",
        duplex: "half",
      } as RequestInit);
      const out = forwardableHeaders(res.headers).filter(([k]) => k.toLowerCase() !== "content-encoding");
      const learnFrom =
        method === "GET" &&
        res.status === 200 &&
        AS_METADATA_PATH.test(url.pathname) &&
        /^application\/json\b/i.test(res.headers.get("content-type") ?? "");
      const sse = /text\/event-stream/i.test(res.headers.get("content-type") ?? "");
      const length = Number(res.headers.get("content-length") ?? NaN);
      if (!sse && (length <= INLINE_BODY_BYTES || !res.body) && isText(res.headers.get("content-type"))) {
        // Small, complete text body (JSON-RPC answers): one frame for the whole response.
        const text = res.body ? await res.text() : "";
        if (learnFrom) this.learnEndpoints(text);
        mux.sendControl({ t: "res", id: f.id, status: res.status, headers: out, text });
        stream.finishSend();
        logLine(method, url.pathname, String(res.status), started);
        return;
      }
      mux.sendControl({ t: "res", id: f.id, status: res.status, headers: out });
      logLine(method, url.pathname, String(res.status), started, sse ? " (stream)" : "");
      const body =
        sse && method === "GET" && res.body
          ? this.watchEndpointEvent(res.body, url)
          : learnFrom && res.body
            ? this.watchMetadata(res.body)
            : res.body;
      await stream.sendBody(body);
    } catch (e) {
      if (stream.closed) return; // the app cancelled it
      const message = describeError(e);
      stream.reset("local_error", `${this.o.target.host}: ${message}`);
      logLine(method, url.pathname, `error: ${message}`, started);
    }
  }

  /** Passes an authorization-server metadata document through, learning its endpoints at the end. */
  private watchMetadata(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const dec = new TextDecoder();
    let text = "";
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, ctl) => {
          if (text.length <= MAX_METADATA_CHARS) text += dec.decode(chunk, { stream: true });
          ctl.enqueue(chunk);
        },
        flush: () => {
          if (text.length <= MAX_METADATA_CHARS) this.learnEndpoints(text + dec.decode());
        },
      }),
    );
  }

  /**
   * A legacy HTTP+SSE server names its message endpoint in the first event; that exact path (same origin)
   * becomes forwardable too, as the target itself asked for it.
   */
  private watchEndpointEvent(body: ReadableStream<Uint8Array>, base: URL): ReadableStream<Uint8Array> {
    let head = "";
    let done = false;
    const dec = new TextDecoder();
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, ctl) => {
          if (!done) {
            head += dec.decode(chunk, { stream: true });
            const m = /(?:^|\n)event:\s*endpoint\r?\ndata:\s*(\S+)/.exec(head);
            if (m) {
              try {
                const u = new URL(m[1], base);
                if (u.origin === this.o.target.origin) this.learned.add(u.pathname);
              } catch {
                /* ignore a malformed endpoint */
              }
            }
            if (m || head.length > 4096 || /\n\r?\n/.test(head)) done = true;
          }
          ctl.enqueue(chunk);
        },
      }),
    );
  }
}

/** RFC 9728 / RFC 8414 / OpenID discovery documents (path-suffixed forms included). */
const DISCOVERY_PATH =
  /^\/\.well-known\/(oauth-protected-resource|oauth-authorization-server|openid-configuration)(\/|$)/;
const AS_METADATA_PATH = /^\/\.well-known\/(oauth-authorization-server|openid-configuration)(\/|$)/;
/** Larger metadata than the app accepts (1 MiB) is not worth learning from. */
const MAX_METADATA_CHARS = 1024 * 1024;
const AS_ENDPOINT_KEYS = ["token_endpoint", "registration_endpoint", "revocation_endpoint"];

/** Paths of the token, registration and revocation endpoints that are on the target's origin. */
function sameOriginEndpoints(meta: unknown, target: URL): string[] {
  if (!meta || typeof meta !== "object") return [];
  const paths: string[] = [];
  for (const key of AS_ENDPOINT_KEYS) {
    const v = (meta as Record<string, unknown>)[key];
    if (typeof v !== "string") continue;
    try {
      const u = new URL(v);
      if (u.origin === target.origin && !u.username && !u.password) paths.push(u.pathname);
    } catch {
      /* not a URL: nothing to learn */
    }
  }
  return paths;
}

function isText(contentType: string | null): boolean {
  return !contentType || /^(application\/json|text\/plain)\b/i.test(contentType);
}

function logLine(method: string, path: string, status: string, started: number, extra = ""): void {
  const ms = (performance.now() - started).toFixed(1);
  const time = new Date().toISOString().slice(11, 19);
  console.log(`${time} ${method} ${path} ${status} ${ms} ms${extra}`);
}

function describeError(e: unknown): string {
  const err = e as { cause?: { code?: string; message?: string }; code?: string; message?: string };
  const code = err?.cause?.code ?? err?.code;
  if (code === "ECONNREFUSED") return "connection refused (is the local server running?)";
  if (code === "ENOTFOUND") return "host not found";
  if (code === "ECONNRESET") return "connection reset";
  return (err?.cause?.message ?? err?.message ?? String(e)).slice(0, 200);
}

function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

/**
 * --client-id mode: find the local server's authorization server (401 challenge → protected-resource
 * metadata → AS metadata), so the credentials can be bound to its issuer and its token endpoint becomes
 * forwardable. Best effort: failures leave discovery to the app.
 */
type LocalOAuth = { issuer?: string; paths: Set<string>; tokenEndpoint?: URL; authMethods?: unknown };

async function discoverLocalOAuth(target: URL): Promise<LocalOAuth> {
  const paths = new Set<string>();
  const get = async (u: URL) => {
    const r = await fetch(u, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(5000) });
    return r.ok ? ((await r.json()) as Record<string, unknown>) : undefined;
  };
  try {
    const probe = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "ping" }),
      signal: AbortSignal.timeout(5000),
    });
    await probe.body?.cancel();
    const challenge = probe.headers.get("www-authenticate") ?? "";
    const rm = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    const prmUrl = rm
      ? new URL(rm, target)
      : new URL(`/.well-known/oauth-protected-resource${target.pathname}`, target);
    const prm = prmUrl.origin === target.origin ? await get(prmUrl) : undefined;
    const asUrl = Array.isArray(prm?.authorization_servers)
      ? String(prm.authorization_servers[0])
      : target.origin;
    const as = new URL(asUrl);
    const suffix = as.pathname === "/" ? "" : as.pathname;
    const meta =
      (await get(new URL(`/.well-known/oauth-authorization-server${suffix}`, as))) ??
      (await get(new URL(`/.well-known/openid-configuration${suffix}`, as)));
    for (const p of sameOriginEndpoints(meta, target)) paths.add(p);
    const issuer = typeof meta?.issuer === "string" ? meta.issuer : undefined;
    const token = typeof meta?.token_endpoint === "string" ? new URL(meta.token_endpoint) : undefined;
    return {
      issuer,
      paths,
      // Only an endpoint of the issuer the credentials are bound to ever sees the secret.
      tokenEndpoint: issuer && token?.origin === new URL(issuer).origin ? token : undefined,
      authMethods: meta?.token_endpoint_auth_methods_supported,
    };
  } catch (e) {
    if (e instanceof CliError) throw e;
    return { paths };
  }
}

/**
 * Which client authentication the pre-registered client is registered for (authorization servers bind it
 * per client; RFC 6749 §2.3.1). Asked once, of the issuer's own token endpoint, with a refresh token that
 * can't exist: `invalid_client` means the method is wrong; any other answer means the client authenticated.
 * Inconclusive → undefined (Poke then picks from the server's metadata).
 */
async function detectClientAuth(
  found: LocalOAuth,
  clientId: string,
  secret: string,
): Promise<"client_secret_basic" | "client_secret_post" | undefined> {
  if (!found.tokenEndpoint) return undefined;
  const supported = Array.isArray(found.authMethods) ? found.authMethods : ["client_secret_basic"];
  const candidates = (["client_secret_basic", "client_secret_post"] as const).filter((m) =>
    supported.includes(m),
  );
  if (candidates.length < 2) return candidates[0];
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, "+");
  for (const method of candidates) {
    const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: "poke-cli-probe" });
    const headers: Record<string, string> = {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
    };
    if (method === "client_secret_basic")
      headers.authorization = `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString("base64")}`;
    else {
      body.set("client_id", clientId);
      body.set("client_secret", secret);
    }
    try {
      const res = await fetch(found.tokenEndpoint, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(5000),
      });
      const answer = (await res.json().catch(() => ({}))) as { error?: unknown };
      if (res.status >= 300 && res.status < 400) return undefined;
      if (answer.error !== "invalid_client") return res.status < 500 ? method : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
