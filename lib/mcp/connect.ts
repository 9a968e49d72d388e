// Opens one MCP connection: Streamable HTTP first (auto era negotiation), legacy HTTP+SSE only when the
// endpoint answers 400/404/405 — never on 401/403 or network failures (docs/design.md §6.2).
import {
  Client,
  SSEClientTransport,
  SdkHttpError,
  SseError,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  type AuthProvider,
  type ListChangedHandlers,
  type OAuthClientProvider,
  type PriorDiscovery,
} from "@modelcontextprotocol/client";
import { AppError, isAppError } from "@/lib/errors";
import {
  createEgressFetch,
  LIMITS,
  type EgressFetch,
  type EgressOptions,
  type FetchLike,
} from "@/lib/net/egress";
import { publicUserId } from "@/lib/data/users";
import { tunnelFetchFor } from "@/lib/tunnel/fetch";
import { classifyMcpError, oauthRequired, type ErrorContext } from "@/lib/mcp/errors";
import { oauthAdvertised } from "@/lib/oauth/discovery";

export type TransportKind = "streamable-http" | "sse";

export const CLIENT_INFO = { name: "poke-self-hosted", version: "0.1.0" };
export const CONNECT_TIMEOUT_MS = 15_000;
/** docs/security.md §14: at most 50 pages per list. */
export const MAX_LIST_PAGES = 50;

export type ConnectOptions = {
  url: string;
  userId: string;
  apiKey?: string | null;
  /** OAuth seam: an OAuthClientProvider (or minimal AuthProvider) manages Authorization when given. */
  authProvider?: OAuthClientProvider | AuthProvider;
  /** The transport that worked before: skips probing the other one. */
  transport?: TransportKind | null;
  prior?: PriorDiscovery;
  listChanged?: ListChangedHandlers;
  timeoutMs?: number;
  headersTimeoutMs?: number;
  maxResponseBytes?: number;
};

export type McpConnection = {
  client: Client;
  transport: StreamableHTTPClientTransport | SSEClientTransport;
  kind: TransportKind;
  fetch: EgressFetch;
  /**
   * Calls `fn` with each result of a `method` request sent while watching, before the SDK reads it; `fn`
   * may edit the result in place (discovery applies its caps this way). Returns the function that stops
   * watching.
   */
  watchResults(method: string, fn: (result: Record<string, unknown>) => void): () => void;
  /** Terminates the session (DELETE) when there is one, then closes. Never throws. */
  close(): Promise<void>;
};

const FALLBACK_STATUSES = new Set([400, 404, 405]);

/**
 * The headers Poke adds to requests for the MCP server. Scoped to its origin and to MCP-shaped requests
 * (not OAuth metadata or form-encoded token calls an authorization server on the same origin may get).
 */
export function mcpHeadersFor(
  serverUrl: URL,
  publicUserId: string,
  apiKey: string | null | undefined,
  oauth: boolean,
) {
  return (url: URL, init: RequestInit): Record<string, string> | undefined => {
    if (url.origin !== serverUrl.origin) return undefined;
    if (url.pathname.startsWith("/.well-known/") || init.body instanceof URLSearchParams) return undefined;
    const h: Record<string, string> = { "X-Poke-User-Id": publicUserId };
    if (apiKey && !oauth) h.Authorization = `Bearer ${apiKey}`;
    return h;
  };
}

/**
 * One connect attempt's fetch and what it saw on the wire: the last 401 challenge, so a bare
 * SdkHttpError(401) can still be told apart (OAuth vs key). Read only while this attempt connects.
 */
export type ConnectionProbe = ErrorContext & { fetch: EgressFetch };

export function createMcpFetch(o: ConnectOptions): ConnectionProbe {
  const serverUrl = new URL(o.url);
  const ctx: ConnectionProbe = {
    url: serverUrl,
    hasApiKey: !!o.apiKey,
    oauthGranted: !!o.authProvider,
    fetch: undefined as unknown as EgressFetch,
  };
  // X-Poke-User-Id is the user's public UUID, looked up before the first request (lib/data/users.ts).
  let publicId = "";
  const fetchOpts: EgressOptions = {
    purpose: "mcp",
    headersFor: (url, init) => mcpHeadersFor(serverUrl, publicId, o.apiKey, !!o.authProvider)(url, init),
    headersTimeoutMs: o.headersTimeoutMs,
    maxResponseBytes: o.maxResponseBytes,
    onResponse: (url, res) => {
      if (res.status === 401 && url.origin === serverUrl.origin) {
        ctx.challenge = res.headers.get("www-authenticate") ?? "";
      }
      if (res.status >= 400 && url.origin === serverUrl.origin) ctx.lastStatus = res.status;
      ctx.lastContentType = res.headers.get("content-type") ?? undefined;
    },
  };
  // Tunnel seam (lib/tunnel): a URL on this app's own /api/tunnel/<id>/ route is reached in-process over
  // its owner's `poke tunnel` WebSocket — never through egress (no HTTP hop back into the app).
  const send = tunnelFetchFor(serverUrl, o.userId, fetchOpts) ?? createEgressFetch(fetchOpts);
  ctx.fetch = async (input, init) => {
    publicId ||= await publicUserId(o.userId);
    return checkSessionId(await send(input, init));
  };
  return ctx;
}

/** The spec's session id: visible ASCII (0x21–0x7E); at most 256 characters, which Poke keeps and resends. */
const SESSION_ID = /^[\x21-\x7e]{1,256}$/;

/**
 * Refuses a response whose Mcp-Session-Id is not a session id: every later request would carry it, so an
 * oversized or binary value is refused where it arrives, with a message naming the server's fault.
 */
function checkSessionId(res: Response): Response {
  const id = res.headers.get("mcp-session-id");
  if (id === null || id === "" || SESSION_ID.test(id)) return res;
  void res.body?.cancel().catch(() => {});
  const what = id.length > 256 ? `${id.length} characters long` : "not visible ASCII";
  throw new AppError(
    "bad_session_id",
    `The server sent an Mcp-Session-Id that is ${what}; a session id must be 1–256 visible ASCII characters, so Poke won't use it.`,
    502,
  );
}

function newClient(o: ConnectOptions): Client {
  return new Client(CLIENT_INFO, {
    versionNegotiation: {
      mode: "auto",
      probe: { timeoutMs: o.timeoutMs ?? CONNECT_TIMEOUT_MS, maxRetries: 0 },
    },
    listChanged: o.listChanged,
    listMaxPages: MAX_LIST_PAGES,
  });
}

/** Connects or throws a classified AppError. */
export async function connectMcp(o: ConnectOptions): Promise<McpConnection> {
  const probe = createMcpFetch(o);
  try {
    return await connectRaw(o, probe);
  } catch (err) {
    const app = classifyMcpError(err, probe);
    // A 401 that names no metadata URL still means OAuth when the well-known paths say so
    // (docs/security.md §7).
    if (
      app.code === "unauthorized" &&
      !o.apiKey &&
      !o.authProvider &&
      (await oauthAdvertised(o.url, o.userId))
    )
      throw oauthRequired();
    throw app;
  }
}

async function connectRaw(o: ConnectOptions, probe: ConnectionProbe): Promise<McpConnection> {
  const url = new URL(o.url);
  const timeout = Math.min(o.timeoutMs ?? CONNECT_TIMEOUT_MS, LIMITS.hardMaxMs);
  const transportOpts = { authProvider: o.authProvider, fetch: probe.fetch };
  if (o.transport !== "sse") {
    const client = newClient(o);
    const transport = new StreamableHTTPClientTransport(url, transportOpts);
    try {
      await client.connect(transport, { timeout, ...(o.prior ? { prior: o.prior } : {}) });
      return wrap(client, transport, "streamable-http", probe.fetch);
    } catch (err) {
      await client.close().catch(() => {});
      if (err instanceof UnauthorizedError) throw err; // needs consent: never downgrade
      const status = err instanceof SdkHttpError ? err.status : undefined;
      if (status === undefined || !FALLBACK_STATUSES.has(status)) throw err;
      if (o.transport === "streamable-http") throw err;
      probe.streamableStatus = status;
    }
  }
  // A fresh Client for the SSE attempt; same auth and fetch.
  probe.challenge = undefined;
  const client = newClient(o);
  // The SSE transport opens its stream through the `eventsource` package, which turns a rejected fetch
  // into an error event with a message only (an SseError without a status). This attempt opens one
  // stream, and keeps that request's own failure here to throw it in place of the bare SseError.
  let streamFailure: AppError | undefined;
  const streamFetch: FetchLike = (input, init) =>
    probe.fetch(input, init).catch((e: unknown) => {
      if (isAppError(e)) streamFailure = e;
      throw e;
    });
  const transport = new SSEClientTransport(url, {
    ...transportOpts,
    eventSourceInit: { fetch: streamFetch },
  });
  try {
    await client.connect(transport, { timeout });
  } catch (err) {
    await client.close().catch(() => {});
    probe.triedSse = true;
    if (err instanceof SseError && err.code === undefined && streamFailure) throw streamFailure;
    throw err;
  }
  return wrap(client, transport, "sse", probe.fetch);
}

function wrap(
  client: Client,
  transport: StreamableHTTPClientTransport | SSEClientTransport,
  kind: TransportKind,
  fetch: EgressFetch,
): McpConnection {
  let closed: Promise<void> | undefined;
  if (transport instanceof StreamableHTTPClientTransport) endCancelledRequests(transport);
  const watchResults = readResults(transport, client);
  return {
    client,
    transport,
    kind,
    fetch,
    watchResults,
    close: () =>
      (closed ??= (async () => {
        if (transport instanceof StreamableHTTPClientTransport) {
          await withTimeout(transport.terminateSession(), 5_000).catch(() => {});
        }
        await client.close().catch(() => {});
      })()),
  };
}

type Watcher = (result: Record<string, unknown>) => void;

/**
 * Reads each response before the SDK does, for two things:
 * - A result without `resultType` on the 2026-07-28 revision is complete: the revision's text says a
 *   client treats a missing `resultType` as "complete", while the MCP SDK (2.4) refuses such a result as
 *   invalid on that revision. The missing field is filled in as "complete" here, and nothing else is
 *   changed, so the SDK's own check of the rest of the result still applies (docs/protocol.md).
 * - Watchers of a method (McpConnection.watchResults) see its results first.
 */
function readResults(transport: McpConnection["transport"], client: Client) {
  const watchers = new Map<string, Set<Watcher>>();
  /** ids of watched requests in flight → their method */
  const watched = new Map<string | number, string>();
  // Both transports: the Streamable HTTP one takes send options, the SSE one ignores them.
  const send = transport.send.bind(transport) as (message: unknown, options?: unknown) => Promise<void>;
  transport.send = ((message: unknown, options?: unknown) => {
    const m = message as { id?: unknown; method?: unknown };
    if (typeof m.method === "string" && isRequestId(m.id) && watchers.has(m.method))
      watched.set(m.id, m.method);
    return send(message, options);
  }) as typeof transport.send;
  const onmessage = transport.onmessage;
  transport.onmessage = (message) => {
    const m = message as { id?: unknown; method?: unknown; result?: unknown };
    if (m.method === undefined && isRequestId(m.id)) {
      const method = watched.get(m.id);
      watched.delete(m.id);
      const result = m.result;
      if (result && typeof result === "object" && !Array.isArray(result)) {
        const r = result as Record<string, unknown>;
        if (!("resultType" in r) && client.getProtocolEra() === "modern") r.resultType = "complete";
        if (method) for (const fn of watchers.get(method) ?? []) fn(r);
      }
    }
    onmessage?.(message);
  };
  return (method: string, fn: Watcher) => {
    const set = watchers.get(method) ?? new Set<Watcher>();
    watchers.set(method, set.add(fn));
    return () => {
      set.delete(fn);
      if (set.size) return;
      watchers.delete(method);
      for (const [id, m] of watched) if (m === method) watched.delete(id);
    };
  };
}

/**
 * Ends the HTTP request of every request the client gives up on (docs/security.md §14). On the initialize era
 * the SDK answers a timeout or a caller's cancel by POSTing notifications/cancelled and leaves the request's
 * response stream open: a server that keeps it alive (a comment every second) would hold the socket for
 * as long as it likes. Each request is sent with its own abort signal, and the cancellation naming it aborts
 * it, which closes its socket; the SDK reads an aborted request signal as intended (no error, no reconnect).
 * On the 2026 era the SDK aborts the request itself, and the two compose.
 */
function endCancelledRequests(transport: StreamableHTTPClientTransport): void {
  const open = new Map<string | number, AbortController>();
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    const m = message as { id?: unknown; method?: unknown; params?: { requestId?: unknown } };
    if (typeof m.method === "string" && isRequestId(m.id)) {
      const ac = new AbortController();
      open.set(m.id, ac);
      const own = options?.requestSignal;
      options = { ...options, requestSignal: own ? AbortSignal.any([own, ac.signal]) : ac.signal };
    } else if (m.method === "notifications/cancelled" && isRequestId(m.params?.requestId)) {
      open.get(m.params.requestId)?.abort();
      open.delete(m.params.requestId);
    }
    return send(message, options);
  };
  // Client.connect set the handler; a response ends its request's entry.
  const onmessage = transport.onmessage;
  transport.onmessage = (message) => {
    const m = message as { id?: unknown; method?: unknown };
    if (m.method === undefined && isRequestId(m.id)) open.delete(m.id);
    onmessage?.(message);
  };
  const onclose = transport.onclose;
  transport.onclose = () => {
    open.clear();
    onclose?.();
  };
}

const isRequestId = (id: unknown): id is string | number => typeof id === "string" || typeof id === "number";

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)))]).finally(
    () => clearTimeout(t),
  );
}
