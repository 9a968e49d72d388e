// The agent endpoint (/api/mcp, and /api/mcp/<toolset> for each toolset): the app as an MCP server over
// Streamable HTTP for any agent holding an API token. Web Request → Response, so the route handlers, tests and
// benchmarks all call handleAgentRequest / handleToolsetRequest. What a request is served — the whole catalog,
// a toolset, search mode — is its *view* (lib/agent/toolsets.ts), which also applies the token's scope.
//
// - Modern (2026-07-28) traffic: createMcpHandler, one handler per view (bounded LRU). Each handler has its
//   own event bus, so `notify.toolsChanged()` reaches that view's subscriptions/listen streams only.
// - Legacy (2025) traffic: sessionful Streamable HTTP (lib/agent/legacy-sessions.ts), so those clients get
//   list_changed on their GET stream too. Sessions are bound to the user who opened them.
// - 2024-11-05 HTTP+SSE clients: /api/mcp/sse and /api/mcp/<toolset>/sse (lib/agent/sse.ts).
// Every request authenticates; nothing is computed from anything but the token owner's rows.
import {
  createMcpHandler,
  InMemoryServerEventBus,
  isLegacyRequest,
  type AuthInfo,
  type McpHttpHandler,
} from "@modelcontextprotocol/server";
import {
  closeLegacySessions,
  closeViewSessions,
  handleLegacyRequest,
  legacySessionViews,
  notifyLegacySessions,
} from "@/lib/agent/legacy-sessions";
import { buildAgentServer, paramHeaderRejection } from "@/lib/agent/server";
import { onListsChanged } from "@/lib/agent/events";
import { closeSseViewSessions, notifySseSessions, sseSessionViews } from "@/lib/agent/sse";
import { resolveView, routeViewEvents, type AgentView } from "@/lib/agent/toolsets";
import { authenticateApiToken } from "@/lib/data/api-tokens";
import { env } from "@/lib/env";
import { isAppError } from "@/lib/errors";
import { rateLimitedFor } from "@/lib/limits/calls";
import { log } from "@/lib/log";
import { processState } from "@/lib/state";

const MAX_BODY = 4 * 1024 * 1024;

type UserHandler = {
  handler: McpHttpHandler;
  bus: InMemoryServerEventBus;
  inflight: number;
  view: AgentView;
};
const MAX_HANDLERS = 2_000;

/** One handler per view, least recently used first (Map order). */
const handlers = processState(
  "agentHandlers",
  () => {
    const map = new Map<string, UserHandler>();
    const views = (userId: string) => [
      ...[...map.values()].filter((e) => e.view.userId === userId).map((e) => e.view),
      ...legacySessionViews(userId),
      ...sseSessionViews(userId),
    ];
    // Resources and prompts are on the whole endpoint's views only (not toolsets).
    onListsChanged(({ userId, kinds }) => {
      const keys = new Set(
        views(userId)
          .filter((v) => !v.toolsetId)
          .map((v) => v.key),
      );
      for (const key of keys) {
        for (const kind of kinds) {
          const notify = map.get(key)?.handler.notify;
          if (kind === "resources") notify?.resourcesChanged();
          else notify?.promptsChanged();
          notifyLegacySessions(key, kind);
          notifySseSessions(key, kind);
        }
      }
    });
    routeViewEvents({
      views,
      notify: (key) => {
        map.get(key)?.handler.notify.toolsChanged();
        notifyLegacySessions(key);
        notifySseSessions(key);
      },
      close: (key) => {
        const entry = map.get(key);
        map.delete(key);
        void entry?.handler.close().catch(() => {});
        void closeViewSessions(key);
        void closeSseViewSessions(key);
      },
    });
    return map;
  },
  (map) => closeHandlers(map),
);

/** GET/POST/DELETE /api/mcp. */
export function handleAgentRequest(req: Request): Promise<Response> {
  return serveAgentEndpoint(req);
}

/** GET/POST/DELETE /api/mcp/<toolset>. */
export async function handleToolsetRequest(
  req: Request,
  ctx: { params: Promise<{ toolset: string }> },
): Promise<Response> {
  return serveAgentEndpoint(req, (await ctx.params).toolset);
}

async function serveAgentEndpoint(req: Request, toolset?: string): Promise<Response> {
  const refused = checkOrigin(req);
  if (refused) return refused;
  const user = await authenticate(req);
  if (user instanceof Response) return user;
  const view = await viewOf(user, toolset);
  if (view instanceof Response) return view;

  let parsedBody: unknown;
  if (req.method === "POST") {
    const read = await readBody(req);
    if (read instanceof Response) return read;
    parsedBody = read;
    const limited = toolCallRateLimited(user.id, parsedBody);
    if (limited) return limited;
  }
  const authInfo: AuthInfo = {
    token: user.tokenId,
    clientId: user.id,
    scopes: [],
    extra: { userId: user.id, view: view.key },
  };
  const options = parsedBody === undefined ? { authInfo } : { authInfo, parsedBody };
  if (await isLegacyRequest(req, parsedBody)) return handleLegacyRequest(req, view, options);
  // SEP-2243: `Mcp-Param-*` headers of a tools/call agree with its arguments (lib/agent/server.ts).
  const mismatch = await paramHeaderRejection(view, parsedBody, req.headers);
  if (mismatch) return mismatch;

  const entry = handlerFor(view);
  entry.inflight++;
  try {
    return await entry.handler.fetch(req, options);
  } finally {
    entry.inflight--;
  }
}

/** MCP's DNS-rebinding rule: a browser Origin must be our own. Agents (no Origin header) pass. */
export function checkOrigin(req: Request): Response | undefined {
  const origin = req.headers.get("origin");
  if (!origin) return undefined;
  const allowed = new Set([new URL(env().APP_URL).origin, new URL(req.url).origin]);
  if (origin !== "null" && allowed.has(origin)) return undefined;
  return jsonError(403, "bad_origin", "Cross-origin request refused");
}

const jsonError = (status: number, code: string, message: string, headers?: HeadersInit) =>
  Response.json({ error: { code, message } }, { status, headers });

export async function authenticate(req: Request) {
  const m = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i);
  const challenge = (error?: string) =>
    error
      ? `Bearer realm="poke", error="invalid_token", error_description="${error}"`
      : 'Bearer realm="poke"';
  if (!m) {
    return jsonError(401, "unauthorized", "Send an API token as Authorization: Bearer <token>", {
      "WWW-Authenticate": challenge(),
    });
  }
  try {
    return await authenticateApiToken(m[1]);
  } catch (err) {
    if (isAppError(err) && err.status === 401) {
      return jsonError(401, err.code, err.message, { "WWW-Authenticate": challenge(err.message) });
    }
    log.error("agent endpoint authentication failed", err);
    return jsonError(500, "internal", "Something went wrong. Please try again.");
  }
}

/** The token's view of this endpoint, or the refusal: a scope that excludes it (403), no such toolset (404). */
export async function viewOf(user: { id: string; tokenId: string }, toolset?: string) {
  try {
    return await resolveView(user, toolset);
  } catch (err) {
    if (isAppError(err) && err.status < 500) return jsonError(err.status, err.code, err.message);
    log.error("agent endpoint view failed", err);
    return jsonError(500, "internal", "Something went wrong. Please try again.");
  }
}

const rpcError = (status: number, code: number, message: string, more: RpcErrorExtras = {}) =>
  Response.json(
    { jsonrpc: "2.0", error: { code, message, data: more.data }, id: more.id ?? null },
    { status, headers: more.headers },
  );
type RpcErrorExtras = { data?: unknown; id?: unknown; headers?: HeadersInit };

/**
 * Reads the JSON body once (capped), so the routing predicate, the rate-limit check and the SDK share it.
 * A non-JSON content type is left for the SDK to refuse (415).
 */
export async function readBody(req: Request): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers.get("content-type") ?? "")) return undefined;
  if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY) {
    return rpcError(413, -32000, "Request body is too large (max 4 MiB)");
  }
  const text = await req.text();
  if (text.length > MAX_BODY) return rpcError(413, -32000, "Request body is too large (max 4 MiB)");
  try {
    return JSON.parse(text);
  } catch {
    return rpcError(400, -32700, "Parse error: the request body is not valid JSON");
  }
}

/** Sheds a tools/call at the door with HTTP 429 + Retry-After when the user's rate budget is spent. */
export function toolCallRateLimited(userId: string, body: unknown): Response | undefined {
  const messages = Array.isArray(body) ? body : [body];
  const calls = messages.some((m) => (m as { method?: unknown } | null)?.method === "tools/call");
  if (!calls) return undefined;
  const wait = rateLimitedFor(userId);
  if (wait === undefined) return undefined;
  const id = Array.isArray(body) ? null : ((body as { id?: unknown }).id ?? null);
  return rpcError(429, -32000, `Too many tool calls. Try again in ${wait} s.`, {
    data: { retryAfterSec: wait },
    id,
    headers: { "Retry-After": String(wait) },
  });
}

function handlerFor(view: AgentView): UserHandler {
  let entry = handlers.get(view.key);
  if (entry) {
    // Map order is the LRU order.
    handlers.delete(view.key);
    handlers.set(view.key, entry);
    return entry;
  }
  const bus = new InMemoryServerEventBus((err) => log.warn("agent endpoint listener failed", String(err)));
  const handler = createMcpHandler(() => buildAgentServer(view), {
    // 2025 traffic never reaches this handler (it goes to the sessionful path).
    legacy: "reject",
    bus,
    maxSubscriptions: 16,
    onerror: (err) => log.debug("agent endpoint request rejected", err.message),
  });
  entry = { handler, bus, inflight: 0, view };
  handlers.set(view.key, entry);
  evictIdleHandlers();
  return entry;
}

/** Drops least recently used handlers with nothing in flight and no open listen stream. */
function evictIdleHandlers(): void {
  if (handlers.size <= MAX_HANDLERS) return;
  for (const [key, e] of handlers) {
    if (handlers.size <= MAX_HANDLERS) break;
    if (e.inflight === 0 && e.bus.listenerCount === 0) handlers.delete(key);
  }
}

async function closeHandlers(map: Map<string, UserHandler>): Promise<void> {
  const all = [...map.values()];
  map.clear();
  await Promise.all(all.map((e) => e.handler.close().catch(() => {})));
}

/** Closes every handler and legacy session (tests; the process's shutdown closes both on its own). */
export async function closeAgentEndpoint(): Promise<void> {
  await closeHandlers(handlers);
  await closeLegacySessions();
}
