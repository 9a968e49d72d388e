// Tunnels across instances (docs/deploy.md "Tunnels"). A tunnel's WebSocket lives on the one instance the
// CLI reached; with REDIS_URL set, that instance records itself as the tunnel's owner in Redis (a hash with a
// TTL the heartbeat refreshes, deleted on close, overwritten at once when the CLI reconnects anywhere), and a
// request for the tunnel arriving on any other instance is relayed to the owner over one direct HTTP request
// (POST /api/tunnel/<id>/relay, signed with a key derived from SESSION_SECRET).
//
// Why a direct HTTP hop and not Redis pub/sub or streams carrying the tunnel's frames:
// - failure is visible at once: a dead owner refuses or resets the connection, so a call fails with
//   tunnel_offline in milliseconds (and the stale ownership is dropped) instead of waiting on a channel
//   nobody reads; pub/sub delivers at most once to whoever listens, silently;
// - backpressure is TCP's: a slow event-stream reader slows the owner's stream only, where pub/sub would
//   buffer without bound in Redis's output buffers (and disconnect the subscriber when they overflow);
// - body bytes never pass through Redis, which keeps only the small ownership record;
// - cancellation: a caller that gives up closes the relay request and also sends the owner a second signed
//   request naming the call (a close is not relied on alone: it may go unseen while the local server is
//   silent); either makes the owner reset the call's stream on the tunnel, before or after its answer began.
// The price is one setting, INSTANCE_URL (how the others reach this instance), documented in docs/deploy.md.
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import os from "node:os";
import { internalSignature, verifyInternalSignature } from "@/lib/crypto";
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import { log } from "@/lib/log";
import { redis, redisEnabled, redisKey } from "@/lib/redis";
import { processState } from "@/lib/state";
import { tunnelOfflineError } from "@/lib/tunnel/fetch";
import { StreamReset, type HeaderList } from "@/lib/tunnel/protocol";
import { liveTunnel, type LiveTunnel, type TunnelRequest, type TunnelResponse } from "@/lib/tunnel/registry";

/** This process, as named in ownership records and tunnel rows. */
export const INSTANCE_ID = `${os.hostname()}:${process.pid}`;
/** How long a dead owner's unreachable address is waited for before the call fails as tunnel_offline. */
const RELAY_CONNECT_MS = 5_000;
/** A relayed request older than this is refused (a captured request cannot be replayed later). */
const RELAY_MAX_AGE_MS = 60_000;
const SIGNATURE_PURPOSE = "tunnel-relay";
export const RELAY_HEADER = "x-poke-relay";

// ---------------------------------------------------------------------------------------------------------
// Ownership registry

export type TunnelOwner = {
  connectionId: string;
  instance: string;
  url: string;
  userId: string;
  integrationId: string;
  name: string;
  target: string;
};

const ownerKey = (tunnelId: string) => redisKey("tunnel", tunnelId);

/** Deletes/refreshes the record only while it still names this connection (a newer owner keeps its own). */
const RELEASE = `if redis.call('HGET', KEYS[1], 'connectionId') == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const REFRESH = `if redis.call('HGET', KEYS[1], 'connectionId') == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

/** The address other instances relay to. */
export function instanceUrl(): string {
  const e = env();
  if (e.INSTANCE_URL) return e.INSTANCE_URL.replace(/\/$/, "");
  let host = e.HOST;
  if (host === "0.0.0.0" || host === "::" || host === "") {
    const ifaces = Object.values(os.networkInterfaces()).flat();
    host = ifaces.find((i) => i && i.family === "IPv4" && !i.internal)?.address ?? "127.0.0.1";
  }
  return `http://${host.includes(":") ? `[${host}]` : host}:${e.PORT}`;
}

/** Records this instance as the tunnel's owner, replacing whichever owner came before. */
export async function claimTunnel(t: LiveTunnel, ttlMs: number): Promise<void> {
  const r = redis();
  if (!r) return;
  const owner: TunnelOwner = {
    connectionId: t.connectionId,
    instance: INSTANCE_ID,
    url: instanceUrl(),
    userId: t.userId,
    integrationId: t.integrationId,
    name: t.name,
    target: t.target.href,
  };
  const key = ownerKey(t.tunnelId);
  await r.multi().del(key).hset(key, owner).pexpire(key, ttlMs).exec();
  // An older connection on another instance closes (one CLI per tunnel, as on one instance).
  await r.publish(replacedChannel(), JSON.stringify({ tunnelId: t.tunnelId, connectionId: t.connectionId }));
}

/** Keeps the record alive while the heartbeat answers; re-claims it if it was lost (a Redis restart). */
export async function refreshTunnel(t: LiveTunnel, ttlMs: number): Promise<void> {
  const r = redis();
  if (!r) return;
  const ok = await r.eval(REFRESH, 1, ownerKey(t.tunnelId), t.connectionId, String(ttlMs));
  if (ok === 0 && liveTunnel(t.tunnelId)?.connectionId === t.connectionId) {
    const current = await r.hget(ownerKey(t.tunnelId), "connectionId");
    if (!current) await claimTunnel(t, ttlMs);
  }
}

/**
 * Drops the record if it still names `connectionId`. Returns whether this connection was the owner (or
 * Redis is not in use): only then may the tunnel be marked offline.
 */
export async function releaseTunnel(tunnelId: string, connectionId: string): Promise<boolean> {
  const r = redis();
  if (!r) return true;
  const current = await r.hget(ownerKey(tunnelId), "connectionId");
  if (current && current !== connectionId) return false;
  await r.eval(RELEASE, 1, ownerKey(tunnelId), connectionId);
  return true;
}

export async function tunnelOwner(tunnelId: string): Promise<TunnelOwner | undefined> {
  const r = redis();
  if (!r) return undefined;
  const h = await r.hgetall(ownerKey(tunnelId));
  return h.connectionId ? (h as TunnelOwner) : undefined;
}

export const replacedChannel = () => redisKey("tunnel", "replaced");

/**
 * The owner's tunnel on another instance, as a LiveTunnel whose requests are relayed there; undefined
 * without Redis, when nobody owns it, or when it is not `userId`'s.
 */
export async function remoteTunnel(tunnelId: string, userId: string): Promise<LiveTunnel | undefined> {
  if (!redisEnabled()) return undefined;
  const owner = await tunnelOwner(tunnelId).catch((err) => {
    log.warn("reading a tunnel's owner failed", { tunnelId, err: String(err) });
    return undefined;
  });
  if (!owner || owner.userId !== userId || owner.instance === INSTANCE_ID) return undefined;
  let target: URL;
  try {
    target = new URL(owner.target);
  } catch {
    return undefined;
  }
  return {
    tunnelId,
    userId,
    integrationId: owner.integrationId,
    name: owner.name,
    target,
    connectionId: owner.connectionId,
    request: (req) => relayRequest(tunnelId, owner, req),
    close: () => {},
  };
}

// ---------------------------------------------------------------------------------------------------------
// The relay's response framing: [type u8][length u32 BE][payload]. The head and errors are JSON; an error
// frame carries what failed on the owner (the CLI dropped, or reset the stream) so the caller reports the
// same failure it would on the owner itself.

const F_HEAD = 1;
const F_DATA = 2;
const F_END = 3;
const F_ERROR = 4;

type RelayHead = {
  tunnelId: string;
  userId: string;
  method: string;
  url: string;
  headers: HeaderList;
  body: boolean;
  ts: number;
  nonce: string;
};
type RelayError = { code: string; message: string; status?: number; reset?: boolean };
/** Cancels the relayed call whose head carried the nonce `cancel`. */
type RelayCancel = { tunnelId: string; cancel: string; ts: number; nonce: string };

function frame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, 5);
  return out;
}
const jsonFrame = (type: number, v: unknown) => frame(type, new TextEncoder().encode(JSON.stringify(v)));

function errorOf(err: unknown): RelayError {
  if (isAppError(err)) return { code: err.code, message: err.message, status: err.status };
  const reset = err as Partial<StreamReset> | undefined;
  if (reset?.name === "StreamReset" && typeof reset.code === "string")
    return { code: reset.code, message: String(reset.message ?? reset.code), reset: true };
  return { code: "tunnel_offline", message: "", status: 503 };
}

function fromRelayError(e: RelayError, name: string): Error {
  if (e.reset) return new StreamReset(e.code, e.message);
  if (e.code === "tunnel_offline") return offline(name);
  return new AppError(e.code, e.message, e.status ?? 502);
}

const offline = (name: string) => tunnelOfflineError(name);

// ---------------------------------------------------------------------------------------------------------
// Caller side: one HTTP request to the owner per tunneled request.

const agents = processState("tunnelRelayAgents", () => ({
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
}));

async function relayRequest(tunnelId: string, owner: TunnelOwner, r: TunnelRequest): Promise<TunnelResponse> {
  const head: RelayHead = {
    tunnelId,
    userId: owner.userId,
    method: r.method,
    url: r.url.href,
    headers: r.headers,
    body: r.body !== null,
    ts: Date.now(),
    nonce: randomUUID(),
  };
  const headLine = JSON.stringify(head);
  const url = new URL(`/api/tunnel/${tunnelId}/relay`, owner.url);
  const secure = url.protocol === "https:";
  const req = (secure ? https : http).request(url, {
    method: "POST",
    agent: secure ? agents.https : agents.http,
    headers: {
      "content-type": "application/octet-stream",
      [RELAY_HEADER]: internalSignature(SIGNATURE_PURPOSE, headLine),
    },
  });
  let answered = false;
  let cancelled = false;
  // The caller gave up: the owner resets the call's stream on the tunnel (notifications/cancelled for the
  // local server's stream, or its request ending).
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    void sendCancel(tunnelId, owner, head.nonce);
  };
  const unreachable = async (err: unknown) => {
    log.info("tunnel owner unreachable", { tunnelId, owner: owner.instance, err: String(err) });
    // A dead owner's record must not black-hole later calls: drop it unless a new connection took over.
    await releaseTunnel(tunnelId, owner.connectionId).catch(() => {});
    return offline(owner.name);
  };

  return new Promise<TunnelResponse>((resolve, reject) => {
    const connectTimer = setTimeout(
      () => req.destroy(new Error(`no answer within ${RELAY_CONNECT_MS / 1000} s`)),
      RELAY_CONNECT_MS,
    );
    const onAbort = () => {
      cancel();
      req.destroy();
      reject(r.signal?.reason);
    };
    if (r.signal?.aborted) return onAbort();
    r.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (err) => {
      clearTimeout(connectTimer);
      if (!answered && !r.signal?.aborted) void unreachable(err).then(reject);
    });
    req.on("response", (res) => {
      clearTimeout(connectTimer);
      answered = true;
      if (res.statusCode !== 200) {
        res.resume();
        r.signal?.removeEventListener("abort", onAbort);
        return reject(
          new AppError("tunnel_relay", `The instance holding the tunnel answered ${res.statusCode}.`, 502),
        );
      }
      readRelayResponse(res, owner.name, r.signal, cancel).then(
        (out) => {
          r.signal?.removeEventListener("abort", onAbort);
          resolve(out);
        },
        (err) => {
          r.signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
    req.write(headLine + "\n");
    void sendBody(req, r.body).catch((err) => req.destroy(err));
  });
}

/** Tells the owner to cancel a relayed call (best effort: an owner that is gone has nothing to cancel). */
function sendCancel(tunnelId: string, owner: TunnelOwner, callNonce: string): Promise<void> {
  const message: RelayCancel = { tunnelId, cancel: callNonce, ts: Date.now(), nonce: randomUUID() };
  const line = JSON.stringify(message);
  const url = new URL(`/api/tunnel/${tunnelId}/relay`, owner.url);
  const secure = url.protocol === "https:";
  return new Promise<void>((resolve) => {
    const req = (secure ? https : http).request(url, {
      method: "POST",
      agent: secure ? agents.https : agents.http,
      headers: {
        "content-type": "application/octet-stream",
        [RELAY_HEADER]: internalSignature(SIGNATURE_PURPOSE, line),
      },
      timeout: RELAY_CONNECT_MS,
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve());
      res.on("error", () => resolve());
    });
    req.on("timeout", () => req.destroy());
    req.on("error", (err) => {
      log.debug("cancelling a relayed call failed", { tunnelId, err: String(err) });
      resolve();
    });
    req.end(line + "\n");
  });
}

async function sendBody(req: http.ClientRequest, body: TunnelRequest["body"]): Promise<void> {
  if (body === null) return void req.end();
  if (typeof body === "string" || body instanceof Uint8Array) return void req.end(body);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (req.destroyed) return void reader.cancel().catch(() => {});
      if (!req.write(value)) await new Promise((r) => req.once("drain", r));
    }
    req.end();
  } finally {
    reader.releaseLock();
  }
}

/** Resolves at the head frame; the body is the data frames, ended by the end frame or failed by an error. */
function readRelayResponse(
  res: IncomingMessage,
  name: string,
  signal: AbortSignal | undefined,
  cancel: () => void,
): Promise<TunnelResponse> {
  return new Promise<TunnelResponse>((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let headSeen = false;
    let done = false;
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (c) => void (ctl = c),
        pull: () => void res.resume(),
        cancel: () => {
          if (!done) cancel();
          done = true;
          res.destroy();
        },
      },
      { highWaterMark: 256 * 1024, size: (c) => c.byteLength },
    );
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      if (!headSeen) reject(err);
      else ctl.error(err);
      res.destroy();
    };
    res.on("data", (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 5 && !done) {
        const len = buf.readUInt32BE(1);
        if (buf.length < 5 + len) break;
        const type = buf[0];
        const payload = buf.subarray(5, 5 + len);
        buf = buf.subarray(5 + len);
        if (type === F_HEAD && !headSeen) {
          headSeen = true;
          const h = JSON.parse(payload.toString("utf8")) as { status: number; headers: HeaderList };
          resolve({ status: h.status, headers: h.headers, body });
        } else if (type === F_DATA && headSeen) {
          ctl.enqueue(new Uint8Array(payload));
          if ((ctl.desiredSize ?? 1) <= 0) res.pause();
        } else if (type === F_END && headSeen) {
          done = true;
          ctl.close();
        } else if (type === F_ERROR) {
          fail(fromRelayError(JSON.parse(payload.toString("utf8")) as RelayError, name));
        } else {
          fail(new AppError("tunnel_relay", "The instance holding the tunnel sent a malformed answer.", 502));
        }
      }
    });
    // The caller gave up (timeout, cancel): close the relay, so the owner ends the call on the tunnel too.
    const onAbort = () => {
      if (!done) cancel();
      fail(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    // The owner died mid-answer: the same failure as the tunnel itself dropping.
    res.on("close", () => {
      signal?.removeEventListener("abort", onAbort);
      fail(signal?.aborted ? (signal.reason as Error) : offline(name));
    });
    res.on("error", () => {});
  });
}

// ---------------------------------------------------------------------------------------------------------
// Owner side: POST /api/tunnel/<id>/relay.

/** Serves a relayed request on the instance holding the tunnel's socket. */
export async function handleRelay(req: Request, tunnelId: string): Promise<Response> {
  const signature = req.headers.get(RELAY_HEADER);
  if (!signature || !req.body) return notFound();
  const reader = req.body.getReader();
  const { line, rest } = await readLine(reader).catch(() => ({ line: undefined, rest: undefined }));
  if (line === undefined || !verifyInternalSignature(SIGNATURE_PURPOSE, line, signature)) return notFound();
  const head = JSON.parse(line) as RelayHead | RelayCancel;
  if (head.tunnelId !== tunnelId || Math.abs(Date.now() - head.ts) > RELAY_MAX_AGE_MS) return notFound();
  if ("cancel" in head) {
    void reader.cancel().catch(() => {});
    relayed.get(head.cancel)?.abort(new StreamReset("cancelled", "The caller cancelled the call"));
    return new Response(null, { status: 204 });
  }

  const body = head.body ? remainder(rest!, reader) : null;
  if (!body) void reader.cancel().catch(() => {});
  const ac = new AbortController();
  // Cancelled by the caller's explicit message, or by the relay request closing.
  relayed.set(head.nonce, ac);
  const forget = () => {
    if (relayed.get(head.nonce) === ac) relayed.delete(head.nonce);
  };
  ac.signal.addEventListener("abort", forget, { once: true });
  const onAbort = () => ac.abort(req.signal.reason);
  req.signal.addEventListener("abort", onAbort, { once: true });
  // Once the head has come, cancelling the body resets the call's stream on the tunnel.
  let upstream: ReadableStreamDefaultReader<Uint8Array> | undefined;
  ac.signal.addEventListener("abort", () => void upstream?.cancel(ac.signal.reason).catch(() => {}), {
    once: true,
  });
  const finish = () => {
    req.signal.removeEventListener("abort", onAbort);
    forget();
  };
  const out = new ReadableStream<Uint8Array>({
    start: async (ctl) => {
      const live = liveTunnel(tunnelId);
      try {
        if (!live || live.userId !== head.userId) throw new AppError("tunnel_offline", "", 503);
        const res = await live.request({
          method: head.method,
          url: new URL(head.url),
          headers: head.headers,
          body,
          signal: ac.signal,
        });
        upstream = res.body.getReader();
        if (ac.signal.aborted) void upstream.cancel(ac.signal.reason).catch(() => {});
        ctl.enqueue(jsonFrame(F_HEAD, { status: res.status, headers: res.headers }));
      } catch (err) {
        ctl.enqueue(jsonFrame(F_ERROR, errorOf(err)));
        ctl.close();
        finish();
      }
    },
    pull: async (ctl) => {
      if (!upstream) return;
      try {
        const { done, value } = await upstream.read();
        if (ac.signal.aborted) {
          ctl.enqueue(jsonFrame(F_ERROR, { code: "cancelled", message: "cancelled", reset: true }));
          ctl.close();
          finish();
        } else if (done) {
          ctl.enqueue(frame(F_END));
          ctl.close();
          finish();
        } else ctl.enqueue(frame(F_DATA, value));
      } catch (err) {
        ctl.enqueue(jsonFrame(F_ERROR, errorOf(err)));
        ctl.close();
        finish();
      }
    },
    cancel: (reason) => {
      ac.abort(reason);
    },
  });
  return new Response(out, {
    status: 200,
    headers: { "content-type": "application/octet-stream", "cache-control": "no-store" },
  });
}

/** Calls relayed to this instance and still running, by their head's nonce (for explicit cancels). */
const relayed = processState("tunnelRelayed", () => new Map<string, AbortController>());

const notFound = () =>
  Response.json(
    {
      error: {
        code: "not_found",
        message:
          "Tunneled servers are reachable only through Poke itself (the integration's tools and /api/mcp).",
      },
    },
    { status: 404 },
  );

const MAX_HEAD_BYTES = 256 * 1024;

async function readLine(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ line: string | undefined; rest: Uint8Array }> {
  let buf = new Uint8Array(0);
  for (;;) {
    const nl = buf.indexOf(10);
    if (nl >= 0) return { line: new TextDecoder().decode(buf.subarray(0, nl)), rest: buf.subarray(nl + 1) };
    if (buf.length > MAX_HEAD_BYTES) return { line: undefined, rest: buf };
    const { done, value } = await reader.read();
    if (done) return { line: undefined, rest: buf };
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
  }
}

function remainder(
  first: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | undefined = first.length ? first : undefined;
  return new ReadableStream<Uint8Array>({
    pull: async (ctl) => {
      if (pending) {
        ctl.enqueue(pending);
        pending = undefined;
        return;
      }
      const { done, value } = await reader.read();
      if (done) ctl.close();
      else ctl.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
