// The event store of 2025-era agent sessions (lib/agent/legacy-sessions.ts) in Redis: every message a session's
// event streams carry is appended to a Redis stream, so a client that lost its stream — or its instance —
// resumes with Last-Event-ID on any instance (docs/deploy.md "Agent sessions"). One Redis stream per MCP
// stream, capped in length and expiring with the session; an event id is `<redis entry id>@<stream id>`.
//
// Calls in flight: the requests a POST carries are recorded as pending, with the instance serving them, and
// with their event stream once it opens (its priming event); their answer, once stored, clears them. A client
// resuming the stream on another instance gets what the serving instance stores meanwhile, and when that
// instance is gone (it refuses connections, or stopped announcing itself), an error for each call it never
// answered — so the client's call settles at once instead of waiting for its own timeout. A client that does
// not resume (a protocol version without priming events, or its reconnection gave up) gets those errors on the
// next event stream it opens for the session on another instance (a GET, or a POST's answer).
import { AsyncLocalStorage } from "node:async_hooks";
import net from "node:net";
import type { EventStore, JSONRPCMessage } from "@modelcontextprotocol/server";
import type { Redis } from "ioredis";
import { log } from "@/lib/log";
import { attemptRedis, redis, redisKey } from "@/lib/redis";
import { processState } from "@/lib/state";
import { INSTANCE_ID, instanceUrl } from "@/lib/tunnel/cluster";

/** Events kept per stream: a client further behind than this re-initializes. */
const MAX_EVENTS = 1_000;
/** How often an instance announces itself, and how long the announcement lasts. */
const ANNOUNCE_MS = 5_000;
const ANNOUNCE_TTL_MS = 15_000;
/** A resumed stream follows calls another live instance is still serving for at most this long. */
const FOLLOW_MS = 300_000;
const FOLLOW_POLL_MS = 200;
const LIVENESS_EVERY_MS = 1_000;

/** The JSON-RPC error a call gets when the instance serving it stopped before answering. */
export const ORPHANED_CALL = {
  code: -32603,
  message: "The instance serving this call stopped; the call may or may not have run. Call again if needed.",
};

type Pending = { stream: string; instance: string; url: string };
type Message = { id?: unknown; method?: unknown; result?: unknown; error?: unknown; params?: unknown };

/** The request ids of the POST being handled, for the priming event of its stream. */
const receiving = new AsyncLocalStorage<string[]>();

/**
 * Runs `handle` (the transport handling one request of session `sessionId`, `body` its parsed JSON) so the
 * requests in `body` are recorded as pending here (and on the stream it opens); a notifications/cancelled in
 * `body` clears its request. The event stream it answers with first carries the errors of calls a dead
 * instance left unanswered in this session, if any.
 */
export async function receivingMessages(
  sessionId: string,
  body: unknown,
  handle: () => Promise<Response>,
): Promise<Response> {
  const r = redis();
  if (!r) return handle();
  const messages = (Array.isArray(body) ? body : [body]) as (Message | null)[];
  const pKey = pendingKey(sessionId);
  const cancelled = messages
    .filter((m) => m?.method === "notifications/cancelled")
    .map((m) => (m?.params as { requestId?: unknown } | undefined)?.requestId)
    .filter((id) => id !== undefined);
  const ids = messages
    .filter((m) => m && typeof m.method === "string" && m.id !== undefined && m.id !== null)
    .map((m) => JSON.stringify(m!.id));
  if (cancelled.length || ids.length) {
    const tx = r.multi();
    if (cancelled.length) tx.hdel(pKey, ...cancelled.map((id) => JSON.stringify(id)));
    if (ids.length) {
      const mine = JSON.stringify({
        stream: "",
        instance: INSTANCE_ID,
        url: instanceUrl(),
      } satisfies Pending);
      tx.hset(pKey, Object.fromEntries(ids.map((id) => [id, mine]))).pexpire(pKey, SESSION_PENDING_TTL_MS);
    }
    // Bounded like every shared decision: a Redis outage leaves calls unrecorded, never waiting.
    await attemptRedis(r, "agent calls in flight", () => tx.exec());
  }
  const res = await (ids.length ? receiving.run(ids, handle) : handle());
  return withOrphanAnswers(sessionId, res);
}

/** Pending records outlive a session's idle expiry at most by this (they are cleared as calls answer). */
const SESSION_PENDING_TTL_MS = 60 * 60_000;
/** How often one session's requests on this instance look for calls a dead instance left unanswered. */
const ORPHAN_CHECK_MS = 5_000;
const orphanChecks = () => processState("agentOrphanChecks", () => new Map<string, number>());

/** Prepends to an event-stream answer the errors of this session's calls a dead instance never answered. */
async function withOrphanAnswers(sessionId: string, res: Response): Promise<Response> {
  if (!res.body || !/text\/event-stream/i.test(res.headers.get("content-type") ?? "")) return res;
  const checks = orphanChecks();
  const now = Date.now();
  if (now - (checks.get(sessionId) ?? 0) < ORPHAN_CHECK_MS) return res;
  checks.set(sessionId, now);
  if (checks.size > 10_000) for (const [k, at] of checks) if (now - at > ORPHAN_CHECK_MS) checks.delete(k);
  const r = redis();
  if (!r) return res;
  const claim: Claim = { open: true, answers: [] };
  await attemptRedis(r, "orphaned agent calls", () => claimOrphans(r, sessionId, claim), 3_000);
  claim.open = false;
  const { answers } = claim;
  if (!answers.length) return res;
  const head = new TextEncoder().encode(
    answers.map((m) => `event: message\ndata: ${JSON.stringify(m)}\n\n`).join(""),
  );
  const reader = res.body.getReader();
  let sentHead = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (!sentHead) {
        sentHead = true;
        return ctl.enqueue(head);
      }
      const { done, value } = await reader.read();
      if (done) ctl.close();
      else ctl.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** The answers a claim collects while its caller waits (`open`); once it stopped waiting, `open` is false. */
type Claim = { open: boolean; answers: JSONRPCMessage[] };

/**
 * Claims (so one instance answers each) the session's calls whose instance is dead, adding an error answer
 * for each to `claim.answers`. A call claimed after the caller stopped waiting (a slow Redis, or live
 * instances slow to probe) is put back, for the session's next check here or on another instance: a claimed
 * call is always answered or left pending, never dropped.
 */
async function claimOrphans(r: Redis, sessionId: string, claim: Claim): Promise<void> {
  const pKey = pendingKey(sessionId);
  const foreign = Object.entries(await r.hgetall(pKey))
    .map(([id, record]) => ({ id, record, ...(JSON.parse(record) as Pending) }))
    .filter((x) => x.instance !== INSTANCE_ID);
  const alive = new Map<string, boolean>();
  for (const x of foreign) {
    if (!alive.has(x.instance)) alive.set(x.instance, await instanceAlive(x.instance, x.url));
    if (alive.get(x.instance) || !(await r.hdel(pKey, x.id))) continue;
    if (!claim.open) {
      await r.multi().hset(pKey, x.id, x.record).pexpire(pKey, SESSION_PENDING_TTL_MS).exec();
      continue;
    }
    claim.answers.push({ jsonrpc: "2.0", id: JSON.parse(x.id), error: ORPHANED_CALL } as JSONRPCMessage);
    log.info("agent call orphaned by its instance answered", { sessionId, instance: x.instance });
  }
}

const pendingKey = (sessionId: string) => redisKey("agent", "pending", sessionId);
const announceKey = (instance: string) => redisKey("instance", instance);

const isResponse = (m: Message) =>
  m.id !== undefined && m.id !== null && (m.result !== undefined || m.error !== undefined);

export function redisEventStore(sessionId: string, ttlMs: number): EventStore | undefined {
  const r = redis();
  if (!r) return undefined;
  announce();
  const key = (streamId: string) => redisKey("agent", "events", sessionId, streamId);
  const pKey = pendingKey(sessionId);
  const parse = (eventId: string) => {
    const at = eventId.indexOf("@");
    return at > 0 ? { entry: eventId.slice(0, at), streamId: eventId.slice(at + 1) } : undefined;
  };
  const store: EventStore = {
    async storeEvent(streamId, message) {
      const k = key(streamId);
      const m = message as Message;
      const tx = r
        .multi()
        .xadd(k, "MAXLEN", "~", String(MAX_EVENTS), "*", "m", JSON.stringify(message))
        .pexpire(k, ttlMs);
      const ids = receiving.getStore();
      if (ids && !Object.keys(message).length) {
        // The priming event of a POST's stream: the requests it carries are now in flight here.
        const mine: Pending = { stream: streamId, instance: INSTANCE_ID, url: instanceUrl() };
        tx.hset(pKey, Object.fromEntries(ids.map((id) => [id, JSON.stringify(mine)]))).pexpire(pKey, ttlMs);
      } else if (isResponse(m)) tx.hdel(pKey, JSON.stringify(m.id));
      const [[, entry]] = (await tx.exec()) as [[Error | null, string]];
      return `${entry}@${streamId}`;
    },
    async getStreamIdForEventId(eventId) {
      const p = parse(eventId);
      if (!p || !/^\d+-\d+$/.test(p.entry)) return undefined;
      return (await r.exists(key(p.streamId))) ? p.streamId : undefined;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const p = parse(lastEventId);
      if (!p) throw new Error("invalid event id");
      let after = p.entry;
      const forward = async () => {
        const entries = await r.xrange(key(p.streamId), `(${after}`, "+");
        for (const [entry, fields] of entries) {
          after = entry;
          const message = JSON.parse(fields[1]) as JSONRPCMessage;
          // The priming event (an empty message) only marks a position.
          if (message && Object.keys(message).length) await send(`${entry}@${p.streamId}`, message);
        }
      };
      await forward();
      // Calls of this stream another instance was serving: follow its answers while it lives, and answer
      // those it never will once it is gone.
      const elsewhere = async () => {
        const all = await r.hgetall(pKey);
        return Object.entries(all)
          .map(([id, v]) => ({ id, ...(JSON.parse(v) as Pending) }))
          .filter((x) => x.stream === p.streamId && x.instance !== INSTANCE_ID);
      };
      let pending = await elsewhere();
      const deadline = Date.now() + FOLLOW_MS;
      let checked = 0;
      while (pending.length) {
        let answered = false;
        if (Date.now() - checked >= LIVENESS_EVERY_MS) {
          checked = Date.now();
          const owners = new Map(pending.map((x) => [x.instance, x]));
          const dead = new Set<string>();
          for (const [instance, x] of owners) if (!(await instanceAlive(instance, x.url))) dead.add(instance);
          for (const x of pending.filter((x) => dead.has(x.instance) || Date.now() >= deadline)) {
            // Whoever clears the record answers: one error per call, however many instances resume it. It
            // goes into the stream like any answer, so this and any later resumption replay it.
            if (!(await r.hdel(pKey, x.id))) continue;
            await store.storeEvent(p.streamId, {
              jsonrpc: "2.0",
              id: JSON.parse(x.id),
              error: ORPHANED_CALL,
            } as JSONRPCMessage);
            answered = true;
            log.info("agent call orphaned by its instance answered", { sessionId, instance: x.instance });
          }
        }
        if (!answered) await new Promise((res) => setTimeout(res, FOLLOW_POLL_MS));
        await forward();
        pending = await elsewhere();
      }
      return p.streamId;
    },
  };
  return store;
}

// ---------------------------------------------------------------------------------------------------------
// Which instances are alive: each announces itself in Redis while it runs (a key with a TTL); one that refuses
// connections at its address is gone at once, one that stopped announcing is gone when its key expires.

function announce(): void {
  const s = processState<{ timer?: NodeJS.Timeout }>("instanceAnnounce", () => ({}));
  if (s.timer) return;
  const tick = () => {
    void redis()
      ?.set(announceKey(INSTANCE_ID), instanceUrl(), "PX", ANNOUNCE_TTL_MS)
      .catch((err) => log.debug("announcing this instance failed", String(err)));
  };
  tick();
  s.timer = setInterval(tick, ANNOUNCE_MS);
  s.timer.unref?.();
}

async function instanceAlive(instance: string, url: string): Promise<boolean> {
  const r = redis();
  if (!r) return true;
  if (!(await r.exists(announceKey(instance)).catch(() => 1))) return false;
  return (await refuses(url)) !== true;
}

/** True when nothing listens at `url` (connection refused); undefined when that could not be told in time. */
function refuses(url: string): Promise<boolean | undefined> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.resolve(undefined);
  }
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname.replace(/^\[|\]$/g, ""), port });
    const done = (v: boolean | undefined) => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(1_000, () => done(undefined));
    socket.once("connect", () => done(false));
    socket.once("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "ECONNREFUSED" ? true : undefined),
    );
  });
}
