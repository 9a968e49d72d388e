// The agent endpoint's HTTP+SSE transport (protocol 2024-11-05), for clients that speak only that one:
// `GET /api/mcp/sse` (or `/api/mcp/<toolset>/sse`) opens an event stream whose first event, `endpoint`,
// names where to POST messages (`/api/mcp/sse/messages?sessionId=…`); each POST is answered 202 and every
// response or notification arrives on the stream as a `message` event (docs/agents.md).
// A session is bound to the user and the API token that opened it: a POST with another user's or another
// token's credentials gets the same 404 as an unknown session. Sessions serve the same view (whole catalog,
// toolset, search mode) and receive the same notifications/tools/list_changed as Streamable HTTP clients.
// They live in this process and end when their stream ends.
import { randomUUID } from "node:crypto";
import {
  parseJSONRPCMessage,
  type AuthInfo,
  type JSONRPCMessage,
  type Server,
  type Transport,
} from "@modelcontextprotocol/server";
import { authenticate, checkOrigin, readBody, toolCallRateLimited, viewOf } from "@/lib/agent/endpoint";
import { buildAgentServer } from "@/lib/agent/server";
import type { AgentView } from "@/lib/agent/toolsets";
import { log } from "@/lib/log";
import { processState } from "@/lib/state";

export const SSE_MESSAGES_PATH = "/api/mcp/sse/messages";
/** Comment lines keep idle streams open through proxies and load balancers (deploy timeouts are longer). */
const KEEPALIVE_MS = 25_000;

type SseSession = {
  id: string;
  userId: string;
  tokenId: string;
  view: AgentView;
  server: Server;
  transport: SseServerTransport;
  lastUsed: number;
};

type Store = { sessions: Map<string, SseSession>; maxPerUser: number; maxTotal: number };

const store = processState<Store>(
  "agentSseSessions",
  () => ({ sessions: new Map(), maxPerUser: 32, maxTotal: 5_000 }),
  (s) => closeSseSessions(s),
);

/**
 * The server side of one HTTP+SSE connection on web streams: `stream` is the GET response's body; messages
 * POSTed for the session are handed to `receive`.
 */
export class SseServerTransport implements Transport {
  readonly sessionId = randomUUID();
  readonly stream: ReadableStream<Uint8Array>;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport["onmessage"];
  private controller?: ReadableStreamDefaultController<Uint8Array>;
  private closed = false;
  private keepalive?: NodeJS.Timeout;
  private readonly encoder = new TextEncoder();

  constructor(private readonly endpoint: string) {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => void (this.controller = controller),
      // The client went away.
      cancel: () => this.end(),
    });
  }

  async start(): Promise<void> {
    const url = `${this.endpoint}?sessionId=${encodeURIComponent(this.sessionId)}`;
    this.write(`event: endpoint\ndata: ${url}\n\n`);
    this.keepalive = setInterval(() => this.write(": keepalive\n\n"), KEEPALIVE_MS);
    this.keepalive.unref?.();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new Error("The SSE stream is closed");
    this.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** Hands POSTed messages to the server; throws (nothing delivered) if one of them is not JSON-RPC. */
  receive(body: unknown, authInfo: AuthInfo): void {
    const messages = (Array.isArray(body) ? body : [body]).map((m) => parseJSONRPCMessage(m));
    // No `request` in the extra: the POST is answered before the work ends, and its end is no cancellation.
    for (const m of messages) this.onmessage?.(m, { authInfo });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.controller?.close();
    } catch {
      /* already closed by the reader */
    }
    this.end();
  }

  private write(chunk: string): void {
    if (this.closed) return;
    try {
      this.controller?.enqueue(this.encoder.encode(chunk));
    } catch {
      this.end();
    }
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    this.onclose?.();
  }
}

const jsonError = (status: number, code: string, message: string) =>
  Response.json({ error: { code, message } }, { status });

const authInfoOf = (user: { id: string; tokenId: string }, view: AgentView): AuthInfo => ({
  token: user.tokenId,
  clientId: user.id,
  scopes: [],
  extra: { userId: user.id, view: view.key },
});

/** GET /api/mcp/sse and /api/mcp/<toolset>/sse: opens a session and its event stream. */
export async function handleSseStream(req: Request, toolset?: string): Promise<Response> {
  if (req.method !== "GET") return jsonError(405, "method_not_allowed", "Open the event stream with GET");
  const refused = checkOrigin(req);
  if (refused) return refused;
  const user = await authenticate(req);
  if (user instanceof Response) return user;
  const view = await viewOf(user, toolset);
  if (view instanceof Response) return view;

  await makeRoom(user.id);
  const server = await buildAgentServer(view);
  const transport = new SseServerTransport(SSE_MESSAGES_PATH);
  const session: SseSession = {
    id: transport.sessionId,
    userId: user.id,
    tokenId: user.tokenId,
    view,
    server,
    transport,
    lastUsed: Date.now(),
  };
  store.sessions.set(session.id, session);
  transport.onclose = () => {
    if (store.sessions.get(session.id) === session) store.sessions.delete(session.id);
    void server.close().catch(() => {});
  };
  await server.connect(transport);
  return new Response(transport.stream, {
    headers: {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
    },
  });
}

/** POST /api/mcp/sse/messages?sessionId=…: one JSON-RPC message (or batch) for an open session → 202. */
export async function handleSseMessage(req: Request): Promise<Response> {
  const refused = checkOrigin(req);
  if (refused) return refused;
  const user = await authenticate(req);
  if (user instanceof Response) return user;
  const id = new URL(req.url).searchParams.get("sessionId") ?? "";
  const session = store.sessions.get(id);
  if (
    !session ||
    !session.transport.isOpen ||
    session.userId !== user.id ||
    session.tokenId !== user.tokenId
  ) {
    return jsonError(404, "session_not_found", "Session not found: open a new one with GET /api/mcp/sse");
  }
  if (!/^application\/json\b/i.test(req.headers.get("content-type") ?? "")) {
    return jsonError(415, "unsupported_media_type", "Send the message as application/json");
  }
  const body = await readBody(req);
  if (body instanceof Response) return body;
  const limited = toolCallRateLimited(user.id, body);
  if (limited) return limited;
  session.lastUsed = Date.now();
  try {
    session.transport.receive(body, authInfoOf(user, session.view));
  } catch (err) {
    log.debug("agent SSE message refused", String(err));
    return jsonError(400, "invalid_message", "The body is not a JSON-RPC message");
  }
  return new Response("Accepted", { status: 202 });
}

/** Per-user and global caps: the least recently used sessions are closed first. */
async function makeRoom(userId: string): Promise<void> {
  const byAge = [...store.sessions.values()].sort((a, b) => a.lastUsed - b.lastUsed);
  const mine = byAge.filter((s) => s.userId === userId);
  const victims = new Set(mine.slice(0, Math.max(0, mine.length - store.maxPerUser + 1)));
  for (const s of byAge) {
    if (store.sessions.size - victims.size < store.maxTotal) break;
    victims.add(s);
  }
  await Promise.all([...victims].map((s) => s.transport.close()));
}

/** The views the user's open SSE sessions serve (for list_changed routing). */
export function sseSessionViews(userId: string): AgentView[] {
  return [...store.sessions.values()].filter((s) => s.userId === userId).map((s) => s.view);
}

/** notifications/<tools, resources or prompts>/list_changed on every open SSE session of one view. */
export function notifySseSessions(viewKey: string, kind: "tools" | "resources" | "prompts" = "tools"): void {
  for (const s of store.sessions.values()) {
    if (s.view.key !== viewKey) continue;
    s.server[
      kind === "tools"
        ? "sendToolListChanged"
        : kind === "resources"
          ? "sendResourceListChanged"
          : "sendPromptListChanged"
    ]().catch((err) => log.debug("list_changed to an SSE session failed", String(err)));
  }
}

/** Ends the SSE sessions of a view that is gone (a deleted toolset). */
export async function closeSseViewSessions(viewKey: string): Promise<void> {
  const gone = [...store.sessions.values()].filter((s) => s.view.key === viewKey);
  await Promise.all(gone.map((s) => s.transport.close()));
}

/** How many SSE sessions are open (metrics). */
export function sseSessionCount(): number {
  return store.sessions.size;
}

export async function closeSseSessions(s: Store = store): Promise<void> {
  const all = [...s.sessions.values()];
  s.sessions.clear();
  await Promise.all(all.map((x) => x.transport.close()));
}
