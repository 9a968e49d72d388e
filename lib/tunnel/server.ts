// Server side of `poke tunnel` (docs/cli.md, docs/security.md §18–19): the WebSocket endpoint the CLI dials
// out to, attached to the app's one HTTP server through the process state (lib/state.ts `upgrades`).
// A connection authenticates with an API token at the upgrade, names its integration in `hello`, and is
// then bound to that owner's Tunnel + Integration rows; the MCP engine reaches the local server through it
// (lib/tunnel/fetch.ts). Heartbeats detect dead peers; a drop fails in-flight calls and marks it offline.
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { audit } from "@/lib/data/audit";
import { authenticateApiToken } from "@/lib/data/api-tokens";
import { assertUnscopedToken } from "@/lib/data/toolsets";
import { getIntegration, resyncIntegration } from "@/lib/data/integrations";
import type { SessionUser } from "@/lib/data/users";
import {
  attachTunnel,
  findStaleTunnels,
  markTunnelOffline,
  markTunnelSeen,
  tunnelIntegrationState,
  type TunnelRef,
} from "@/lib/data/tunnels";
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import { log } from "@/lib/log";
import { dropSession } from "@/lib/mcp/pool";
import { validateUserUrl } from "@/lib/net/egress";
import { setCliClient } from "@/lib/data/grants";
import { parseClientPrivateKey } from "@/lib/oauth/client-key";
import { subscribe } from "@/lib/redis";
import { processState, upgrades } from "@/lib/state";
import { integrationCreateSchema } from "@/lib/schemas/integrations";
import {
  claimTunnel,
  INSTANCE_ID,
  refreshTunnel,
  releaseTunnel,
  replacedChannel,
} from "@/lib/tunnel/cluster";
import { publicTunnelUrl, tunnelOfflineError, tunnelStreamError } from "@/lib/tunnel/fetch";
import {
  CLOSE,
  DEFAULT_HEARTBEAT_MS,
  INLINE_BODY_BYTES,
  MAX_FRAME_BYTES,
  MAX_HEARTBEAT_MS,
  MAX_STREAMS,
  MIN_HEARTBEAT_MS,
  Mux,
  PROTOCOL_VERSION,
  ProtocolViolation,
  StreamReset,
  TUNNEL_PATH,
  type ControlFrame,
  type HelloFrame,
  type ReadyFrame,
  type ResFrame,
} from "@/lib/tunnel/protocol";
import {
  liveTunnel,
  liveTunnels,
  registerTunnel,
  unregisterTunnel,
  type LiveTunnel,
  type TunnelRequest,
  type TunnelResponse,
} from "@/lib/tunnel/registry";

const HELLO_TIMEOUT_MS = 10_000;
const LAST_SEEN_WRITE_MS = 30_000;
/** How often a tunnel waiting for the person to authorize it checks whether that happened. */
const AUTH_WATCH_MS = 2_000;

/**
 * Installs the upgrade handler once per process (idempotent: bundles may evaluate this module twice);
 * shutdown closes every live tunnel.
 */
export function installTunnelEndpoint(): void {
  processState(
    "tunnelEndpoint",
    () => {
      const wss = new WebSocketServer({
        noServer: true,
        maxPayload: MAX_FRAME_BYTES,
        perMessageDeflate: false,
      });
      upgrades().handle = (req, socket, head) => {
        if ((req.url ?? "").split("?")[0] !== TUNNEL_PATH) return false;
        void acceptUpgrade(wss, req, socket, head);
        return true;
      };
      void markStaleTunnelsOffline();
      void watchReplacements();
      return wss;
    },
    async (wss) => {
      await closeAllTunnels();
      wss.close();
    },
  );
}

/** Rows left "online" by a previous process are stale: no socket survives a restart. */
async function markStaleTunnelsOffline(): Promise<void> {
  try {
    // With PostgreSQL other instances may hold live tunnels: only rows whose heartbeat stopped are stale.
    const stale = await findStaleTunnels(
      env().DATABASE_URL ? new Date(Date.now() - 3 * MAX_HEARTBEAT_MS - LAST_SEEN_WRITE_MS) : undefined,
    );
    for (const t of stale) await markOffline(t);
  } catch (err) {
    log.warn("marking stale tunnels offline failed", { err: String(err) });
  }
}

/**
 * With Redis, a newer connection for a tunnel held here may have reached another instance: this one closes,
 * as it would on one instance (lib/tunnel/cluster.ts).
 */
async function watchReplacements(): Promise<void> {
  try {
    await subscribe(replacedChannel(), (message) => {
      const { tunnelId, connectionId } = JSON.parse(message) as { tunnelId: string; connectionId: string };
      const live = liveTunnel(tunnelId);
      if (live && live.connectionId !== connectionId)
        live.close(CLOSE.replaced, "replaced by a newer poke tunnel connection");
    });
  } catch (err) {
    log.warn("watching tunnel replacements failed", { err: String(err) });
  }
}

/** How long an ownership record outlives its last heartbeat. */
const ownershipTtl = (heartbeatMs: number) => 3 * heartbeatMs + 2_000;

async function closeAllTunnels(): Promise<void> {
  await Promise.allSettled(
    liveTunnels().map(async (t) => {
      if (
        unregisterTunnel(t.tunnelId, t.connectionId) &&
        (await releaseTunnel(t.tunnelId, t.connectionId).catch(() => true))
      )
        await markOffline(t);
      t.close(CLOSE.goingAway, "the Poke server is shutting down");
    }),
  );
}

async function markOffline(t: TunnelRef): Promise<void> {
  await markTunnelOffline(t, (name) => tunnelOfflineError(name).message);
  await dropSession(t.userId, t.integrationId).catch(() => {});
}

function rejectUpgrade(socket: Duplex, e: AppError): void {
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? "Error"}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

async function acceptUpgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer) {
  socket.on("error", () => {});
  let user: SessionUser & { tokenId: string };
  try {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!m)
      throw new AppError(
        "unauthorized",
        "Send an API token as Authorization: Bearer <token> (run `poke login`).",
        401,
      );
    user = await authenticateApiToken(m[1]);
    await assertUnscopedToken(user.id, user.tokenId);
  } catch (e) {
    if (!isAppError(e)) log.error("tunnel authentication failed", e);
    return rejectUpgrade(socket, isAppError(e) ? e : new AppError("internal", "Something went wrong.", 500));
  }
  wss.handleUpgrade(req, socket, head, (ws) => new TunnelConnection(ws, user).start());
}

// ---------------------------------------------------------------------------------------------------------

class TunnelConnection {
  private readonly mux: Mux;
  private readonly connectionId = randomUUID();
  private readonly pending = new Map<
    number,
    { resolve: (f: ResFrame) => void; reject: (e: unknown) => void }
  >();
  private nextId = 1;
  private live?: LiveTunnel;
  private ready = false;
  private closed = false;
  private helloSeen = false;
  private alive = true;
  private heartbeatMs = DEFAULT_HEARTBEAT_MS;
  private heartbeat?: NodeJS.Timeout;
  private helloTimer?: NodeJS.Timeout;
  private lastSeenWrite = 0;
  private authWatch?: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly user: SessionUser & { tokenId: string },
  ) {
    this.mux = new Mux(
      {
        send: (d) => ws.send(d),
        bufferedAmount: () => ws.bufferedAmount,
        isOpen: () => ws.readyState === ws.OPEN,
      },
      (f) => this.onControl(f),
    );
  }

  start(): void {
    this.ws.on("message", (data: RawData, isBinary: boolean) => {
      try {
        this.mux.receive(isBinary ? toBytes(data) : data.toString());
      } catch (e) {
        this.violation(e);
      }
    });
    this.ws.on("pong", () => {
      this.alive = true;
      if (this.live)
        void refreshTunnel(this.live, ownershipTtl(this.heartbeatMs)).catch((err) =>
          log.debug("refreshing tunnel ownership failed", { err: String(err) }),
        );
      void this.touch();
    });
    this.ws.on("error", (err) => log.debug("tunnel socket error", { err: String(err) }));
    this.ws.on("close", () => void this.onClose());
    this.helloTimer = setTimeout(
      () => this.refuse("protocol_error", "No hello within 10 s.", CLOSE.protocol),
      HELLO_TIMEOUT_MS,
    );
  }

  private onControl(f: ControlFrame): void {
    if (f.t === "hello") {
      void this.onHello(f).catch((e) => {
        if (isAppError(e))
          return this.refuse(e.code, e.message, e.status === 409 ? CLOSE.conflict : CLOSE.protocol);
        log.error("tunnel hello failed", e);
        this.refuse("internal", "Something went wrong attaching the tunnel. Try again.", CLOSE.protocol);
      });
      return;
    }
    if (f.t === "res" && this.ready) {
      const p = this.pending.get(f.id);
      if (!p) return; // a response for a stream we already gave up on
      this.pending.delete(f.id);
      if (f.text !== undefined) this.mux.streams.get(f.id)?.receiveInline(f.text);
      p.resolve(f);
      return;
    }
    throw new ProtocolViolation(`unexpected ${f.t} frame`);
  }

  private violation(e: unknown): void {
    const message = e instanceof ProtocolViolation ? e.message : "invalid frame";
    log.warn("tunnel protocol violation", { userId: this.user.id, message });
    this.refuse("protocol_error", `Protocol violation: ${message}.`, CLOSE.protocol);
  }

  private refuse(code: string, message: string, closeCode: number): void {
    this.mux.sendControl({ t: "error", code, message });
    this.ws.close(closeCode, code.slice(0, 100));
  }

  private async onHello(f: HelloFrame): Promise<void> {
    if (this.helloSeen) throw new ProtocolViolation("second hello");
    this.helloSeen = true;
    clearTimeout(this.helloTimer);
    if (f.v !== PROTOCOL_VERSION) {
      throw new AppError(
        "unsupported_version",
        `This server speaks tunnel protocol v${PROTOCOL_VERSION}; update poke.`,
      );
    }
    const parsedName = integrationCreateSchema.shape.name.safeParse(f.name);
    if (!parsedName.success)
      throw new AppError("invalid_name", `Invalid name: ${parsedName.error.issues[0]?.message}`);
    const name = parsedName.data;
    const target = validateUserUrl(f.target);
    this.heartbeatMs = Math.min(
      Math.max(f.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, MIN_HEARTBEAT_MS),
      MAX_HEARTBEAT_MS,
    );

    const attached = await attachTunnel(this.user, name, (id) => publicTunnelUrl(id, target));
    if (this.closed) return;
    this.live = {
      tunnelId: attached.tunnelId,
      userId: this.user.id,
      integrationId: attached.integrationId,
      name,
      target,
      connectionId: this.connectionId,
      request: (r) => this.request(r),
      close: (code, reason) => this.ws.close(code, reason),
    };
    const previous = registerTunnel(this.live);
    // One CLI per tunnel: a newer connection wins (the older one exits instead of fighting back).
    previous?.close(CLOSE.replaced, "replaced by a newer poke tunnel connection");
    // Other instances relay this tunnel's calls here from now on (lib/tunnel/cluster.ts).
    await claimTunnel(this.live, ownershipTtl(this.heartbeatMs)).catch((err) =>
      log.warn("claiming tunnel ownership failed", { tunnelId: attached.tunnelId, err: String(err) }),
    );
    this.ready = true;
    this.startHeartbeat();
    await markTunnelSeen(attached.tunnelId, this.user.id, INSTANCE_ID);
    if (f.oauth?.clientId) {
      await setCliClient(
        { id: attached.integrationId, userId: this.user.id },
        {
          clientId: String(f.oauth.clientId).slice(0, 512),
          clientSecret: f.oauth.clientSecret ? String(f.oauth.clientSecret).slice(0, 2048) : undefined,
          // Checked by the CLI already; a key that can't be read is not stored (the flow then says so).
          privateKey: f.oauth.clientPrivateKey
            ? (() => {
                try {
                  return parseClientPrivateKey(String(f.oauth.clientPrivateKey));
                } catch {
                  return undefined;
                }
              })()
            : undefined,
          tokenEndpointAuthMethod: f.oauth.tokenEndpointAuthMethod,
          issuer: f.oauth.issuer,
        },
      );
    }
    await audit(
      this.user.id,
      "tunnel.online",
      { type: "integration", id: attached.integrationId },
      { tunnelId: attached.tunnelId, revived: attached.revived },
    );

    const ready: ReadyFrame = {
      t: "ready",
      tunnelId: attached.tunnelId,
      integrationId: attached.integrationId,
      name,
      url: publicTunnelUrl(attached.tunnelId, target),
      status: "pending",
      heartbeatMs: this.heartbeatMs,
      revived: attached.revived,
    };
    try {
      const diff = await resyncIntegration(this.user, attached.integrationId);
      ready.toolCount = diff.toolCount;
      ready.diff = { added: diff.added, removed: diff.removed, changed: diff.changed };
    } catch (e) {
      if (!isAppError(e)) log.error("tunnel sync failed", e);
      ready.error = isAppError(e)
        ? { code: e.code, message: e.message }
        : { code: "internal", message: "Syncing failed unexpectedly." };
      if (isAppError(e) && (e.code === "needs_auth" || e.code === "needs_reauth")) {
        ready.authorizeUrl = `${env().APP_URL}/integrations/${attached.integrationId}`;
      }
    }
    if (this.closed) return;
    ready.status =
      (await getIntegration(this.user, attached.integrationId).catch(() => undefined))?.status ?? "error";
    this.mux.sendControl(ready);
    if (ready.authorizeUrl) this.watchAuthorization(attached.integrationId, name);
  }

  /**
   * While the integration waits for the person to authorize it in the browser, tells the CLI once it is
   * connected (the OAuth callback syncs it), so `poke tunnel` can say so without being asked.
   */
  private watchAuthorization(integrationId: string, name: string): void {
    let checking = false;
    this.authWatch = setInterval(() => {
      if (checking || this.closed) return;
      checking = true;
      void (async () => {
        const row = await tunnelIntegrationState(this.user, integrationId);
        if (!row) return clearInterval(this.authWatch);
        if (row.status !== "connected" || this.closed) return;
        clearInterval(this.authWatch);
        const n = row.toolCount;
        this.mux.sendControl({
          t: "status",
          status: "connected",
          message: `Authorized: "${name}" is connected with ${n} tool${n === 1 ? "" : "s"}. Ctrl+C to stop.`,
        });
      })()
        .catch((e) => log.debug("tunnel authorization check failed", { err: String(e) }))
        .finally(() => (checking = false));
    }, AUTH_WATCH_MS);
    this.authWatch.unref?.();
  }

  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      if (!this.alive) {
        log.info("tunnel heartbeat lost", { tunnelId: this.live?.tunnelId });
        this.ws.terminate();
        return;
      }
      this.alive = false;
      this.ws.ping();
    }, this.heartbeatMs);
    this.heartbeat.unref?.();
  }

  private async touch(): Promise<void> {
    if (!this.live || Date.now() - this.lastSeenWrite < LAST_SEEN_WRITE_MS) return;
    this.lastSeenWrite = Date.now();
    await markTunnelSeen(this.live.tunnelId, this.user.id).catch(() => {});
  }

  /** Sends one HTTP exchange through the tunnel; resolves at the response head, the body streams after. */
  private request(r: TunnelRequest): Promise<TunnelResponse> {
    if (!this.ready || this.closed) return Promise.reject(tunnelOfflineError(this.live?.name));
    if (this.mux.streams.size >= MAX_STREAMS) {
      return Promise.reject(
        new AppError(
          "tunnel_busy",
          `Too many concurrent requests through the tunnel for "${this.live?.name}" (at most ${MAX_STREAMS}).`,
          503,
        ),
      );
    }
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    const stream = this.mux.open(id);
    return new Promise<TunnelResponse>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(id);
        stream.reset("cancelled", "the request was cancelled");
        reject(r.signal?.reason);
      };
      if (r.signal?.aborted) return onAbort();
      r.signal?.addEventListener("abort", onAbort, { once: true });
      const settle = () => r.signal?.removeEventListener("abort", onAbort);
      this.pending.set(id, {
        resolve: (f) => {
          settle();
          resolve({ status: f.status, headers: f.headers, body: stream.readable });
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      stream.onClose = (err) => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        p.reject(this.streamError(err));
      };
      const inline = typeof r.body === "string" && r.body.length <= INLINE_BODY_BYTES;
      this.mux.sendControl({
        t: "req",
        id,
        method: r.method,
        url: r.url.href,
        headers: r.headers,
        body: r.body !== null && !inline,
        ...(inline ? { text: r.body as string } : {}),
      });
      if (inline) stream.finishSend();
      else void stream.sendBody(r.body).catch(() => {});
    });
  }

  private streamError(err: unknown): AppError {
    if (isAppError(err)) return err;
    if (err instanceof StreamReset) return tunnelStreamError(err);
    return tunnelOfflineError(this.live?.name);
  }

  private async onClose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    clearInterval(this.heartbeat);
    clearInterval(this.authWatch);
    const err = tunnelOfflineError(this.live?.name);
    this.mux.failAll(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    const live = this.live;
    if (!live || !unregisterTunnel(live.tunnelId, this.connectionId)) return;
    try {
      // The CLI already reconnected through another instance: that one holds the tunnel now.
      if (!(await releaseTunnel(live.tunnelId, this.connectionId).catch(() => true))) return;
      await markOffline({ ...live, userId: this.user.id });
      await audit(
        this.user.id,
        "tunnel.offline",
        { type: "integration", id: live.integrationId },
        { tunnelId: live.tunnelId },
      );
    } catch (e) {
      log.warn("marking a tunnel offline failed", { tunnelId: live.tunnelId, err: String(e) });
    }
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
