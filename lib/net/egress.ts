// The ONE outbound HTTP path (MCP, OAuth, metadata). Enforces the SSRF policy on the addresses a
// connection actually uses, the redirect policy, timeouts and response size caps, and turns every
// failure into an AppError with an actionable message. docs/security.md §12–14.
import dns from "node:dns";
import net from "node:net";
import { pipeline, type Readable } from "node:stream";
import zlib from "node:zlib";
import {
  Agent,
  buildConnector,
  Request as UndiciRequest,
  Response as UndiciResponse,
  type Dispatcher,
} from "undici";
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import { log } from "@/lib/log";
import { classifyAddress, isAddressAllowed, parseIpLiteral, type PolicyInput } from "@/lib/net/ip-policy";
import { processState } from "@/lib/state";

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;
export type EgressPurpose = "mcp" | "oauth" | "metadata";

export const MiB = 1024 * 1024;
export const LIMITS = {
  connectMs: 10_000,
  headersMs: 15_000,
  hardMaxMs: 300_000,
  mcpMessageBytes: 8 * MiB,
  documentBytes: 1 * MiB,
  maxRedirects: 3,
} as const;

export type EgressOptions = {
  purpose: EgressPurpose;
  /** Extra headers for a request URL (e.g. only for the MCP server's origin). Evaluated on every hop. */
  headersFor?: (url: URL, init: RequestInit) => Record<string, string> | undefined;
  /** Per message/event for MCP, per document otherwise. */
  maxResponseBytes?: number;
  /** Time allowed until response headers. */
  headersTimeoutMs?: number;
  /** Sees every response (after redirects), e.g. to remember a 401 challenge. */
  onResponse?: (url: URL, res: Response) => void;
};

/**
 * A fetch that rejects with the classified AppError itself (never a generic "fetch failed"): the SDK
 * rethrows it or keeps it as the `cause` of its own error, so each request's failure travels with that
 * request and classifiers find it by walking the `cause` chain.
 */
export type EgressFetch = FetchLike;

// ---------------------------------------------------------------------------------------------------------
// URL validation

/** Validates a URL typed by a person: http(s) only, no credentials, no fragment. */
export function validateUserUrl(raw: string): URL {
  const text = (raw ?? "").trim();
  if (!text) throw new AppError("bad_url", "Enter the MCP server URL.");
  if (text.length > 2048) throw new AppError("bad_url", "The URL is too long (at most 2048 characters).");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError(
      "bad_url",
      "That is not a valid URL. Use the full address, e.g. https://example.com/mcp.",
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new AppError("bad_url", `Only http:// and https:// URLs are supported (got ${url.protocol}).`);
  }
  if (url.username || url.password) {
    throw new AppError(
      "bad_url",
      "Remove the user name and password from the URL; use the API key field instead.",
    );
  }
  if (url.hash || text.includes("#")) {
    throw new AppError("bad_url", "Remove the #fragment from the URL; servers never see it.");
  }
  if (!url.hostname) throw new AppError("bad_url", "The URL has no host name.");
  return url;
}

// ---------------------------------------------------------------------------------------------------------
// Reserved headers

const RESERVED = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-authorization",
  "cookie",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
  "x-poke-user-id",
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Rejects header names users or templates may not set (case-insensitive). */
export function assertAllowedHeaderName(name: string, opts: { oauthManaged?: boolean } = {}): void {
  const lower = name.trim().toLowerCase();
  if (!TOKEN.test(lower)) throw new AppError("bad_header", `"${name}" is not a valid header name.`);
  if (
    RESERVED.has(lower) ||
    lower.startsWith("mcp-") ||
    lower.startsWith("proxy-") ||
    lower.startsWith("sec-")
  ) {
    throw new AppError("reserved_header", `The header "${name}" is set by Poke and can't be supplied.`);
  }
  if (lower === "authorization" && opts.oauthManaged) {
    throw new AppError(
      "reserved_header",
      `The Authorization header is managed by OAuth for this integration.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Connection-time address policy

function currentPolicy(): PolicyInput {
  const e = env();
  return { allowPrivate: e.ALLOW_PRIVATE_NETWORK, allowlist: e.EGRESS_ALLOWLIST };
}

/**
 * The refusal a person sees. A name's resolved address is internal knowledge (which names resolve inside
 * the network, and where): the message says "a private address" (or "a cloud metadata address", which
 * nothing unlocks); the address goes only to the server log and the error's details, which reach admin
 * views only (the Doctor shows it to admins). An IP literal is what the person typed, so it is named.
 */
function blockedError(host: string, address: string, reason: string): AppError {
  const bare = host.replace(/^\[|\]$/g, "");
  log.info("egress refused", { host: bare, address, reason });
  const metadata = /metadata/.test(reason);
  const where = parseIpLiteral(bare)
    ? `${address} is ${reason}`
    : `${bare} resolves to ${metadata ? "a cloud metadata address" : "a private address"}`;
  return new AppError(
    "blocked_address",
    metadata
      ? `${where}; outbound requests there are always blocked.`
      : `${where}; outbound requests there are blocked. An admin can allow it with EGRESS_ALLOWLIST=host:port.`,
    400,
    { host: bare, address, reason },
  );
}

export type ResolvedAddress = { address: string; family: number; allowed: boolean; reason?: string };

/** Resolves a host and checks every address; fails closed on DNS errors. */
export async function resolveChecked(hostname: string, port: string | number): Promise<ResolvedAddress[]> {
  const policy = currentPolicy();
  const bare = hostname.replace(/^\[|\]$/g, "");
  const literal = parseIpLiteral(bare);
  let found: { address: string; family: number }[];
  if (literal) {
    found = [{ address: literal, family: net.isIPv6(literal) ? 6 : 4 }];
  } else {
    try {
      found = await dns.promises.lookup(bare, { all: true, verbatim: true });
    } catch (err) {
      throw dnsError(bare, err);
    }
    if (!found.length) throw dnsError(bare, undefined);
  }
  return found.map((a) => {
    const v = classifyAddress(a.address);
    return {
      address: v.address,
      family: a.family,
      allowed: isAddressAllowed(v, bare, port, policy),
      reason: v.reason,
    };
  });
}

function dnsError(host: string, err: unknown): AppError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const temporary = code === "EAI_AGAIN";
  return new AppError(
    "dns_failed",
    temporary
      ? `The name ${host} could not be resolved right now (DNS timeout). Try again in a moment.`
      : `The host name ${host} does not resolve. Check the URL for typos.`,
    400,
    { host, code },
  );
}

type ConnectFn = ReturnType<typeof buildConnector>;

/** undici connector that resolves, checks every address, then connects to a checked address. */
function guardedConnector(): ConnectFn {
  const base = buildConnector({ timeout: LIMITS.connectMs });
  return (opts, callback) => {
    const port = opts.port || (opts.protocol === "https:" ? 443 : 80);
    resolveChecked(opts.hostname, port).then(
      (addrs) => {
        const bad = addrs.find((a) => !a.allowed);
        if (bad) return callback(blockedError(opts.hostname, bad.address, bad.reason ?? "not allowed"), null);
        // Connect to the address we checked (no second lookup a rebinding DNS could answer differently);
        // TLS still verifies the certificate against the original host name via `host`/servername.
        const target = addrs[0].address;
        base({ ...opts, hostname: target, servername: opts.servername ?? sniName(opts.hostname) }, callback);
      },
      (err) => callback(err, null),
    );
  };
}

function sniName(hostname: string): string | undefined {
  return parseIpLiteral(hostname) ? undefined : hostname;
}

// One Agent per policy: changing ALLOW_PRIVATE_NETWORK/EGRESS_ALLOWLIST must not reuse sockets that
// were checked under the old policy.
type AgentHolder = { key?: string; agent?: Agent; timed?: Map<number, Dispatcher> };
const agents = processState<AgentHolder>(
  "egressAgent",
  () => ({}),
  (a) => a.agent?.destroy(),
);

function agentFor(): Agent {
  const p = currentPolicy();
  const key = `${p.allowPrivate}|${p.allowlist.join(",")}`;
  if (agents.agent && agents.key === key) return agents.agent;
  const old = agents.agent;
  agents.agent = new Agent({
    connect: guardedConnector(),
    headersTimeout: LIMITS.hardMaxMs,
    bodyTimeout: LIMITS.hardMaxMs,
    keepAliveTimeout: 30_000,
  });
  agents.key = key;
  agents.timed = new Map();
  old?.close().catch(() => {});
  return agents.agent;
}

/**
 * The policy's agent with undici itself enforcing a headers timeout of `headersMs`: no timer, abort
 * controller or combined signal per request. One per distinct timeout, sharing the agent's sockets.
 */
function dispatcherFor(headersMs: number): Dispatcher {
  const agent = agentFor();
  const timed = (agents.timed ??= new Map());
  let d = timed.get(headersMs);
  if (!d) {
    if (timed.size >= 32) timed.clear();
    d = agent.compose(
      (dispatch) => (opts, handler) => dispatch({ ...opts, headersTimeout: headersMs }, handler),
    );
    timed.set(headersMs, d);
  }
  return d;
}

// ---------------------------------------------------------------------------------------------------------
// Error classification

const TLS_CODES = /^(CERT_|ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_OSSL)/;

function causeChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let cur: unknown = err;
  for (let i = 0; cur && i < 6; i++) {
    out.push(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

/** Maps a network-level failure to an AppError naming the host. */
export function classifyNetworkError(err: unknown, url: URL): AppError {
  const chain = causeChain(err);
  const app = chain.find(isAppError);
  if (app) return app;
  const host = url.host;
  for (const c of chain) {
    const code = String((c as { code?: unknown }).code ?? "");
    if (code === "ECONNREFUSED")
      return new AppError(
        "connection_refused",
        `${host} refused the connection. Is the server running on that port?`,
        502,
      );
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return dnsError(url.hostname, c);
    if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "ETIMEDOUT")
      return new AppError(
        "timeout",
        `Connecting to ${host} timed out after ${LIMITS.connectMs / 1000} s.`,
        504,
      );
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT")
      return new AppError("timeout", `${host} stopped responding.`, 504);
    if (TLS_CODES.test(code))
      return new AppError(
        "tls_error",
        `The TLS certificate of ${host} could not be verified (${code}). Check the server's certificate.`,
        502,
      );
    if (code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE")
      return new AppError("connection_reset", `${host} closed the connection unexpectedly.`, 502);
    if (code === "EHOSTUNREACH" || code === "ENETUNREACH")
      return new AppError("unreachable", `${host} is unreachable from this server.`, 502);
  }
  return new AppError("network_error", `The request to ${host} failed.`, 502);
}

// ---------------------------------------------------------------------------------------------------------
// Response size caps

/**
 * Total-bytes cap for a non-streaming body (a web stream or a Node readable): the stream returned errors
 * with too_large.
 */
export function capTotal(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  max: number,
  what: string | (() => string),
): ReadableStream<Uint8Array> {
  let n = 0;
  return pullStream(body, (chunk) => {
    n += chunk.byteLength;
    if (n > max) throw tooLarge(typeof what === "string" ? what : what(), max);
  });
}

/**
 * A web stream that reads `body` chunk by chunk as it is pulled, one read per chunk (a TransformStream pipe
 * costs several more); `check` may reject a chunk, which errors the stream and stops the body. Node's web
 * streams are async iterable too.
 */
function pullStream(
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  check?: (chunk: Uint8Array) => void,
): ReadableStream<Uint8Array> {
  const chunks = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        const { done, value } = await chunks.next();
        if (done) return ctl.close();
        try {
          check?.(value);
        } catch (err) {
          ctl.error(err);
          await chunks.return?.().catch(() => {});
          return;
        }
        ctl.enqueue(value);
      },
      cancel: async (reason) => void (await chunks.return?.(reason)),
    },
    { highWaterMark: 0 },
  );
}

function tooLarge(what: string, max: number): AppError {
  return new AppError("too_large", `${what} exceeded the ${formatBytes(max)} limit.`, 502, { max });
}

function formatBytes(n: number): string {
  return n >= MiB ? `${Math.round(n / MiB)} MiB` : `${Math.round(n / 1024)} KiB`;
}

const encoder = new TextEncoder();
/** JSON-RPC error code of the synthetic error that replaces an oversized SSE event. */
export const OVERSIZED_RPC_CODE = -32001;
/** Its `data`, which tells it apart from a server's own -32001 (often a timeout). */
const OVERSIZED_RPC_DATA = { reason: "response_too_large" } as const;

/** True for the JSON-RPC error capSseEvents put in place of an oversized event. */
export function isOversizedRpcError(err: { code?: unknown; data?: unknown }): boolean {
  const data = err.data as { reason?: unknown } | undefined;
  return err.code === OVERSIZED_RPC_CODE && data?.reason === OVERSIZED_RPC_DATA.reason;
}
const ID_RE = /"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})/;

/**
 * Per-event cap for SSE bodies. Erroring an SSE body leaves the SDK request pending until its timeout
 * (docs/design.md §6.3), so an oversized event is dropped and replaced by a JSON-RPC error for the request id
 * found at the start of the event; the rest of the stream keeps flowing.
 */
export function capSseEvents(
  body: ReadableStream<Uint8Array>,
  max: number,
  fallbackId?: unknown,
): ReadableStream<Uint8Array> {
  let size = 0; // bytes in the current event
  let head = ""; // first bytes of the current event, to find its id
  let discarding = false;
  let prev = 0; // previous byte, to detect blank lines
  let prevPrev = 0;
  const headLimit = 512;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        let start = 0;
        for (let i = 0; i < chunk.length; i++) {
          const b = chunk[i];
          const boundary =
            (b === 10 && (prev === 10 || (prev === 13 && prevPrev === 10))) || (b === 13 && prev === 13);
          prevPrev = prev;
          prev = b;
          if (!discarding) {
            size++;
            if (head.length < headLimit) head += String.fromCharCode(b);
          }
          if (boundary) {
            if (!discarding) ctl.enqueue(chunk.subarray(start, i + 1));
            start = i + 1;
            size = 0;
            head = "";
            discarding = false;
            continue;
          }
          if (!discarding && size > max) {
            ctl.enqueue(chunk.subarray(start, i));
            ctl.enqueue(encoder.encode(oversizedEvent(head, max, fallbackId)));
            discarding = true;
          }
          if (discarding) start = i + 1;
        }
        if (!discarding && start < chunk.length) ctl.enqueue(chunk.subarray(start));
      },
    }),
  );
}

function oversizedEvent(head: string, max: number, fallbackId: unknown): string {
  const m = ID_RE.exec(head);
  const id = m ? JSON.parse(m[1]) : fallbackId;
  // "\n\n" first ends the partial event already passed on (it fails to parse and is ignored).
  if (id === undefined) return "\n\n";
  const error = {
    code: OVERSIZED_RPC_CODE,
    message: `The server's response exceeded the ${formatBytes(max)} limit.`,
    data: OVERSIZED_RPC_DATA,
  };
  return `\n\nevent: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id, error })}\n\n`;
}

// ---------------------------------------------------------------------------------------------------------
// The fetch

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 204, 205, 304]);

function jsonRpcOf(init: RequestInit): { method?: string; id?: unknown } | undefined {
  if (typeof init.body !== "string") return undefined;
  try {
    const msg = JSON.parse(init.body);
    return msg && typeof msg === "object" && !Array.isArray(msg) ? msg : undefined;
  } catch {
    return undefined;
  }
}

/** A fetch-compatible function that enforces the egress policy. */
export function createEgressFetch(opts: EgressOptions): EgressFetch {
  const max =
    opts.maxResponseBytes ?? (opts.purpose === "mcp" ? LIMITS.mcpMessageBytes : LIMITS.documentBytes);
  const fn: EgressFetch = async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    try {
      // The JSON-RPC message (MCP POSTs), parsed once: its method picks the headers timeout, its id names
      // the request an oversized SSE event is answered for.
      const post = (init.method ?? "GET").toUpperCase() === "POST";
      const rpc = opts.purpose === "mcp" && post ? jsonRpcOf(init) : undefined;
      const { at, res } = await followRedirects(url, init, opts, rpc);
      const out = toResponse(at, res, rpc, max);
      opts.onResponse?.(at, out);
      return out;
    } catch (err) {
      if (init.signal?.aborted) throw err; // the caller cancelled: keep abort semantics for the SDK
      throw classifyNetworkError(err, url);
    }
  };
  return fn;
}

type RpcMessage = { method?: string; id?: unknown };

/** A response as the dispatcher returns it: the body is a Node readable, not yet capped. */
type RawResponse = { status: number; statusText: string; headers: Headers; body: Readable };

/** Fetches `start`, following redirects under the policy; returns the last response and its URL. */
async function followRedirects(
  start: URL,
  init: RequestInit,
  opts: EgressOptions,
  rpc: RpcMessage | undefined,
): Promise<{ at: URL; res: RawResponse }> {
  let url = start;
  let method = (init.method ?? "GET").toUpperCase();
  let body = init.body;
  const mode = init.redirect ?? "follow";
  for (let hop = 0; ; hop++) {
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new AppError("bad_url", `Refusing to fetch a ${url.protocol} URL.`);
    }
    const headers = new Headers(init.headers);
    if (hop > 0 && url.origin !== start.origin) {
      headers.delete("authorization");
      headers.delete("cookie");
    }
    for (const [k, v] of Object.entries(opts.headersFor?.(url, init) ?? {})) headers.set(k, v);
    const res = await fetchOnce(
      url,
      { ...init, method, body },
      headers,
      opts,
      method === "POST" ? rpc : undefined,
    );
    if (!REDIRECTS.has(res.status) || mode === "manual") return { at: url, res };
    const location = res.headers.get("location");
    if (!location) return { at: url, res };
    discard(res.body);
    const next = new URL(location, url);
    assertRedirectAllowed(url, next, opts.purpose, hop + 1, mode);
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
      if (opts.purpose === "mcp") {
        throw new AppError(
          "redirect_refused",
          `${url.host} redirected a ${method} request with ${res.status}; use the final URL.`,
        );
      }
      method = "GET";
      body = undefined;
    }
    url = next;
  }
}

/** Redirect rules: never https→http; MCP and token requests never leave the origin; a few hops. */
export function assertRedirectAllowed(
  from: URL,
  to: URL,
  purpose: EgressPurpose,
  hops: number,
  mode: RequestRedirect = "follow",
): void {
  if (mode === "error") throw new AppError("redirect_refused", `${from.host} answered with a redirect.`);
  if (from.protocol === "https:" && to.protocol !== "https:") {
    throw new AppError(
      "redirect_refused",
      `${from.host} redirected from https to ${to.protocol}//; refusing to downgrade.`,
    );
  }
  if (to.protocol !== "http:" && to.protocol !== "https:") {
    throw new AppError("redirect_refused", `${from.host} redirected to a ${to.protocol} URL.`);
  }
  if (to.username || to.password)
    throw new AppError("redirect_refused", `${from.host} redirected to a URL with credentials.`);
  if ((purpose === "mcp" || purpose === "oauth") && to.origin !== from.origin) {
    throw new AppError(
      "redirect_refused",
      `${from.host} redirected to another origin (${to.origin}); use that URL directly if you trust it.`,
    );
  }
  if (hops > LIMITS.maxRedirects)
    throw new AppError("redirect_refused", `${from.host} redirected too many times.`);
}

async function fetchOnce(
  url: URL,
  init: RequestInit,
  headers: Headers,
  opts: EgressOptions,
  rpc: RpcMessage | undefined,
): Promise<RawResponse> {
  // Fast path for IP literals: pooled keep-alive sockets skip the connector's check.
  const literal = parseIpLiteral(url.hostname);
  if (literal) {
    const [a] = await resolveChecked(url.hostname, url.port || (url.protocol === "https:" ? 443 : 80));
    if (!a.allowed) throw blockedError(url.hostname, a.address, a.reason ?? "not allowed");
  }
  // A tools/call answered as plain JSON has no headers until the tool finishes: the SDK's request
  // timeout bounds it instead of the short headers timeout.
  const headersMs =
    rpc?.method === "tools/call"
      ? LIMITS.hardMaxMs
      : Math.min(opts.headersTimeoutMs ?? LIMITS.headersMs, LIMITS.hardMaxMs);
  try {
    const body = await requestBody(init.body, headers);
    // undici's dispatcher API rather than its fetch: the same connection pool and policy without fetch's
    // per-request stream machinery (a request clone and body tee). Redirects are never followed here.
    const res = await dispatcherFor(headersMs).request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: (init.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod,
      headers: Object.fromEntries(headers),
      body,
      signal: init.signal ?? undefined,
    });
    return {
      status: res.statusCode,
      statusText: res.statusText ?? "",
      headers: responseHeaders(res.headers),
      body: res.body,
    };
  } catch (err) {
    const code = (c: unknown) => (c as { code?: unknown }).code;
    if (!init.signal?.aborted && causeChain(err).some((c) => code(c) === "UND_ERR_HEADERS_TIMEOUT")) {
      throw new AppError(
        "timeout",
        `${url.host} sent no response within ${Math.round(headersMs / 1000)} s.`,
        504,
      );
    }
    throw err;
  }
}

/** A request body as the dispatcher takes it, with the content type fetch would give it. */
async function requestBody(body: RequestInit["body"], headers: Headers): Promise<string | Uint8Array | null> {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") {
    if (!headers.has("content-type")) headers.set("content-type", "text/plain;charset=UTF-8");
    return body;
  }
  // Anything else (form parameters, bytes, blobs, form data, streams) encoded as fetch encodes it.
  const encoded = new UndiciRequest("http://body.invalid/", {
    method: "POST",
    body: body as never,
    duplex: "half",
  });
  const type = encoded.headers.get("content-type");
  if (type && !headers.has("content-type")) headers.set("content-type", type);
  return new Uint8Array(await encoded.arrayBuffer());
}

function responseHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === "string") headers.append(k, v);
    else if (v) for (const one of v) headers.append(k, one);
  }
  return headers;
}

/** Drops a body nobody reads: a short one is read to the end so its connection can be reused. */
function discard(body: Readable & { dump?: (o: { limit: number }) => Promise<void> }): void {
  void body.dump?.({ limit: 64 * 1024 }).catch(() => {});
}

const DECODERS: Partial<Record<string, () => NodeJS.ReadWriteStream>> = {
  gzip: () => zlib.createGunzip(),
  "x-gzip": () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

/**
 * The fetch Response for a raw response, its body capped: per event for SSE, in total otherwise (the decoded
 * size, if the server compressed it unasked).
 */
function toResponse(at: URL, res: RawResponse, rpc: RpcMessage | undefined, max: number): Response {
  const init = { status: res.status, statusText: res.statusText, headers: res.headers as never };
  if (NULL_BODY.has(res.status)) {
    discard(res.body);
    return new UndiciResponse(null, init) as unknown as Response;
  }
  const what = () => `The response from ${at.host}`;
  const length = res.headers.get("content-length");
  const declared = Number(length || 0);
  const isSse = (res.headers.get("content-type") ?? "").toLowerCase().includes("text/event-stream");
  if (!isSse && declared > max) {
    discard(res.body);
    throw tooLarge(what(), max);
  }
  const decoder = DECODERS[(res.headers.get("content-encoding") ?? "").trim().toLowerCase()];
  const raw: Readable = decoder ? (pipeline(res.body, decoder(), () => {}) as unknown as Readable) : res.body;
  let body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> = raw;
  if (isSse) body = capSseEvents(pullStream(raw), max, rpc?.id);
  // A body of declared length within the cap can't grow past it (the framing ends it there), unless it was
  // compressed.
  else if (length === null || decoder) body = capTotal(raw, max, what);
  return new UndiciResponse(body as never, init) as unknown as Response;
}
