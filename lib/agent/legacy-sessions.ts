// 2025-era clients of the agent endpoint: sessionful Streamable HTTP (initialize → Mcp-Session-Id, GET stream
// for notifications, DELETE), so they too receive notifications/tools/list_changed. A session is bound to the
// view it was opened on (the user, and /api/mcp or one toolset): a request carrying a session id of another
// user or another endpoint gets the same 404 as an unknown id.
// Without Redis, sessions live in this process: behind a load balancer, route by Mcp-Session-Id (sticky) or
// clients re-initialize after the 404 on another instance, as the spec asks them to. With Redis, a session's
// metadata (user, view, what the client sent in initialize) and its streams' events are kept there
// (lib/agent/event-store.ts), so another instance rebuilds the session for the same id — the client goes on
// without re-initializing and resumes its streams with Last-Event-ID (docs/deploy.md "Agent sessions"). An id
// Redis does not know (ended, evicted, expired) gets the spec's 404 at once.
import { randomUUID } from "node:crypto";
import {
  isInitializeRequest,
  WebStandardStreamableHTTPServerTransport,
  type AuthInfo,
  type Server,
} from "@modelcontextprotocol/server";
import { receivingMessages, redisEventStore } from "@/lib/agent/event-store";
import { buildAgentServer } from "@/lib/agent/server";
import type { AgentView } from "@/lib/agent/toolsets";
import { settings } from "@/lib/env";
import { log } from "@/lib/log";
import { redis, redisKey } from "@/lib/redis";
import { processState } from "@/lib/state";

type Session = {
  id: string;
  userId: string;
  view: AgentView;
  server: Server;
  transport: WebStandardStreamableHTTPServerTransport;
  /** performance.now() of the last request or stream (monotonic, finer than a millisecond: a strict order) */
  lastUsed: number;
  /** Requests being answered and event streams open (the GET stream, streamed answers). */
  busy: number;
};

/**
 * maxPerUser: AGENT_SESSIONS_PER_USER; past it a new session closes one of the user's others, the idle ones
 * first (no open stream, no request for `quietMs`), least recently used first among each kind — so scripts
 * that never send DELETE do not cut off a long-running client (docs/deploy.md).
 */
type SessionConfig = { maxPerUser: number; maxTotal: number; idleMs: number; quietMs: number };
type Store = { sessions: Map<string, Session>; config: SessionConfig; sweeper?: NodeJS.Timeout };

const store = processState<Store>(
  "agentSessions",
  () => ({
    sessions: new Map(),
    config: {
      maxPerUser: settings().AGENT_SESSIONS_PER_USER,
      maxTotal: 5_000,
      idleMs: 60 * 60_000,
      quietMs: 60_000,
    },
  }),
  () => closeLegacySessions(),
);

const rpcError = (status: number, message: string) =>
  Response.json(
    { jsonrpc: "2.0", error: { code: status === 404 ? -32001 : -32000, message }, id: null },
    { status },
  );

type Options = { authInfo: AuthInfo; parsedBody?: unknown };

export async function handleLegacyRequest(
  req: Request,
  view: AgentView,
  options: Options,
): Promise<Response> {
  const sessionId = req.headers.get("mcp-session-id");
  if (sessionId) {
    const session = store.sessions.get(sessionId) ?? (await restoreSession(sessionId, view));
    if (!session || session.userId !== view.userId || session.view.key !== view.key) {
      return rpcError(404, "Session not found");
    }
    // Requests are recorded as in flight here, so another instance can answer them if this one dies.
    return track(session, req.signal, () =>
      receivingMessages(sessionId, options.parsedBody, () => session.transport.handleRequest(req, options)),
    );
  }
  if (req.method !== "POST" || !isInitializeRequest(options.parsedBody)) {
    return rpcError(400, "Bad Request: No valid session ID provided");
  }
  return startSession(req, view, options);
}

async function startSession(req: Request, view: AgentView, options: Options): Promise<Response> {
  const id = randomUUID();
  const { transport } = await openSession(id, view);
  const init = (options.parsedBody as { params?: unknown }).params;
  const r = redis();
  if (r) {
    const k = sessionKey(id);
    await r
      .multi()
      .hset(k, { userId: view.userId, viewKey: view.key, init: JSON.stringify(init ?? {}) })
      .pexpire(k, store.config.idleMs)
      .exec()
      .catch((err) => log.warn("storing an agent session failed", { err: String(err) }));
  }
  return transport.handleRequest(req, options);
}

const sessionKey = (id: string) => redisKey("agent", "session", id);

/** A session object for `id` (new, or rebuilt from Redis), registered once the transport is initialized. */
async function openSession(id: string, view: AgentView): Promise<Session> {
  const userId = view.userId;
  await makeRoom(userId);
  const server = await buildAgentServer(view);
  const session = { id, userId, view, server, lastUsed: performance.now(), busy: 0 } as Session;
  const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => id,
    eventStore: redisEventStore(id, store.config.idleMs),
    onsessioninitialized: () => void store.sessions.set(id, session),
    onsessionclosed: () => {
      store.sessions.delete(id);
      void redis()
        ?.del(sessionKey(id))
        .catch(() => {});
    },
  });
  session.transport = transport;
  await server.connect(transport);
  ensureSweeper();
  return session;
}

/**
 * Rebuilds a session another instance opened (it died, or the balancer sent this request here): the same id,
 * server and transport initialized with what the client sent in its initialize, without a round trip to it.
 */
async function restoreSession(id: string, view: AgentView): Promise<Session | undefined> {
  const r = redis();
  if (!r) return undefined;
  const meta = await r.hgetall(sessionKey(id)).catch(() => ({}) as Record<string, string>);
  if (!meta.userId || meta.userId !== view.userId || meta.viewKey !== view.key) return undefined;
  const restored = restoring.get(id);
  if (restored) return restored;
  const pending = (async () => {
    const session = await openSession(id, view);
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      session.transport.handleRequest(
        new Request("http://internal/api/mcp", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            ...headers,
          },
          body: JSON.stringify(body),
        }),
      );
    const init = JSON.parse(meta.init ?? "{}") as Record<string, unknown>;
    await (await post({ jsonrpc: "2.0", id: 0, method: "initialize", params: init })).text();
    await (
      await post({ jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": id })
    ).text();
    if (!store.sessions.has(id)) return undefined;
    await r.pexpire(sessionKey(id), store.config.idleMs).catch(() => {});
    log.info("agent session restored", { sessionId: id });
    return session;
  })();
  restoring.set(id, pending);
  try {
    return await pending;
  } finally {
    restoring.delete(id);
  }
}

const restoring = new Map<string, Promise<Session | undefined>>();

/** Counts a request as busy until it is answered, and until its event stream ends when it answers with one. */
async function track(
  session: Session,
  signal: AbortSignal,
  handle: () => Promise<Response>,
): Promise<Response> {
  session.lastUsed = performance.now();
  session.busy++;
  let res: Response;
  try {
    res = await handle();
  } catch (err) {
    session.busy--;
    throw err;
  }
  if (!res.body || !/text\/event-stream/i.test(res.headers.get("content-type") ?? "")) {
    session.busy--;
    return res;
  }
  let done = false;
  const settle = () => {
    if (done) return;
    done = true;
    signal.removeEventListener("abort", onAbort);
    session.busy--;
    session.lastUsed = performance.now();
  };
  const reader = res.body.getReader();
  // The client went away (its connection closed): the stream is no longer open.
  const onAbort = () => {
    settle();
    void reader.cancel(signal.reason).catch(() => {});
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        try {
          const { done: end, value } = await reader.read();
          if (end) {
            settle();
            ctl.close();
          } else ctl.enqueue(value);
        } catch (err) {
          settle();
          ctl.error(err);
        }
      },
      cancel(reason) {
        settle();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/**
 * Which sessions close first: idle ones (nothing open, no request for `quietMs`), then quiet-but-recent ones,
 * then those with a request or event stream open; least recently used first within each.
 */
function evictionOrder(sessions: Session[], now = performance.now()): Session[] {
  const rank = (s: Session) => (s.busy > 0 ? 2 : now - s.lastUsed >= store.config.quietMs ? 0 : 1);
  return sessions.sort((a, b) => rank(a) - rank(b) || a.lastUsed - b.lastUsed);
}

/** Per-user and global caps (see SessionConfig). */
async function makeRoom(userId: string): Promise<void> {
  const { maxPerUser, maxTotal } = store.config;
  const mine = [...store.sessions.values()].filter((s) => s.userId === userId);
  const victims: Session[] = [];
  if (mine.length >= maxPerUser) {
    victims.push(...evictionOrder(mine).slice(0, mine.length - maxPerUser + 1));
  }
  if (store.sessions.size - victims.length >= maxTotal) {
    const rest = evictionOrder([...store.sessions.values()].filter((s) => !victims.includes(s)));
    victims.push(...rest.slice(0, store.sessions.size - victims.length - maxTotal + 1));
  }
  await Promise.all(victims.map((s) => closeSession(s)));
}

/** `keep`: the session may go on elsewhere (this instance shuts down); otherwise it ends everywhere. */
async function closeSession(s: Session, keep = false): Promise<void> {
  store.sessions.delete(s.id);
  if (!keep)
    void redis()
      ?.del(sessionKey(s.id))
      .catch(() => {});
  await s.transport.close().catch(() => {});
  await s.server.close().catch(() => {});
}

function ensureSweeper(): void {
  if (store.sweeper) return;
  store.sweeper = setInterval(() => {
    const cutoff = performance.now() - store.config.idleMs;
    for (const s of store.sessions.values()) if (s.lastUsed < cutoff && s.busy === 0) void closeSession(s);
  }, 60_000);
  store.sweeper.unref?.();
}

/** The views the user's open sessions were opened on. */
export function legacySessionViews(userId: string): AgentView[] {
  return [...store.sessions.values()].filter((s) => s.userId === userId).map((s) => s.view);
}

/** notifications/<tools, resources or prompts>/list_changed on every open session of one view (on its GET stream). */
export function notifyLegacySessions(
  viewKey: string,
  kind: "tools" | "resources" | "prompts" = "tools",
): void {
  for (const s of store.sessions.values()) {
    if (s.view.key !== viewKey) continue;
    s.server[
      kind === "tools"
        ? "sendToolListChanged"
        : kind === "resources"
          ? "sendResourceListChanged"
          : "sendPromptListChanged"
    ]().catch((err) => log.debug("list_changed to a legacy session failed", String(err)));
  }
}

/** How many sessions are open (metrics). */
export function legacySessionCount(): number {
  return store.sessions.size;
}

/** Ends the sessions of a view that is gone (a deleted toolset). */
export async function closeViewSessions(viewKey: string): Promise<void> {
  await Promise.all(
    [...store.sessions.values()].filter((s) => s.view.key === viewKey).map((s) => closeSession(s)),
  );
}

export async function closeLegacySessions(): Promise<void> {
  if (store.sweeper) clearInterval(store.sweeper);
  store.sweeper = undefined;
  await Promise.all([...store.sessions.values()].map((s) => closeSession(s, true)));
}

/** Test hook: the session limits of this process. */
export function configureLegacySessions(config: Partial<SessionConfig>): SessionConfig {
  const before = { ...store.config };
  Object.assign(store.config, config);
  return before;
}

/** Test hook: forgets this process's sessions without ending them, as if the instance had died. */
export function dropLocalLegacySessions(): void {
  store.sessions.clear();
}
