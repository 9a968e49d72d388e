// The one Redis connection module. Redis is optional: without REDIS_URL every caller keeps its state in this
// process (one instance). With it, instances share limits, breakers, notifications, tunnels and agent
// sessions (docs/deploy.md). Two connections per process: commands, and one in subscriber mode for pub/sub
// (a connection that subscribes can send nothing else). Every key and channel goes through `key()`, so
// deployments (and test runs) sharing one Redis stay apart by REDIS_PREFIX.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { settings } from "@/lib/env";
import { log } from "@/lib/log";
import { processState } from "@/lib/state";

type Handler = (message: string) => void;

type RedisState = {
  url: string;
  client: Redis;
  subscriber?: Redis;
  handlers: Map<string, Set<Handler>>;
};

function connect(url: string, role: string): Redis {
  const r = new Redis(url, {
    // Commands wait for a reconnect instead of failing at once; each caller still bounds its own wait.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    lazyConnect: false,
    connectionName: `poke-${role}-${process.pid}`,
  });
  r.on("error", (err: Error) => log.warn("redis connection error", { role, err: err.message }));
  return r;
}

async function close(s: RedisState): Promise<void> {
  await Promise.allSettled([s.client.quit(), s.subscriber?.quit()]);
}

const holder = () =>
  processState<{ current?: RedisState }>(
    "redis",
    () => ({}),
    async (h) => {
      const s = h.current;
      h.current = undefined;
      if (s) await close(s);
    },
  );

function state(): RedisState | undefined {
  const url = settings().REDIS_URL;
  if (!url) return undefined;
  const h = holder();
  if (h.current?.url !== url) {
    // First use, or the configuration changed (tests): connect to what is configured now.
    if (h.current) void close(h.current);
    h.current = { url, client: connect(url, "cmd"), handlers: new Map<string, Set<Handler>>() };
  }
  return h.current;
}

/** Closes this process's connections; the next use connects again (tests, shutdown). */
export async function closeRedis(): Promise<void> {
  const h = holder();
  const s = h.current;
  h.current = undefined;
  if (s) await close(s);
}

/** True when REDIS_URL is set: state is shared across instances. */
export function redisEnabled(): boolean {
  return Boolean(settings().REDIS_URL);
}

/** The command connection, or undefined when Redis is not configured. */
export function redis(): Redis | undefined {
  return state()?.client;
}

/** A key or channel name under this deployment's prefix. */
export function redisKey(...parts: string[]): string {
  return settings().REDIS_PREFIX + parts.join(":");
}

/**
 * Subscribes `handler` to a channel (already prefixed with `redisKey`). Returns the unsubscribe function.
 * Without Redis it does nothing (returns a no-op): callers deliver locally themselves.
 */
export async function subscribe(channel: string, handler: Handler): Promise<() => Promise<void>> {
  const s = state();
  if (!s) return async () => {};
  if (!s.subscriber) {
    const sub = connect(s.url, "sub");
    sub.on("message", (ch: string, message: string) => {
      for (const h of s.handlers.get(ch) ?? []) {
        try {
          h(message);
        } catch (err) {
          log.warn("redis subscriber handler failed", { channel: ch, err: String(err) });
        }
      }
    });
    s.subscriber = sub;
  }
  let set = s.handlers.get(channel);
  if (!set) {
    set = new Set();
    s.handlers.set(channel, set);
    try {
      await s.subscriber.subscribe(channel);
    } catch (err) {
      s.handlers.delete(channel); // the next subscribe tries again
      throw err;
    }
  }
  set.add(handler);
  return async () => {
    const current = s.handlers.get(channel);
    if (!current) return;
    current.delete(handler);
    if (current.size === 0) {
      s.handlers.delete(channel);
      await s.subscriber?.unsubscribe(channel).catch(() => {});
    }
  };
}

/** Publishes to a channel (already prefixed with `redisKey`); a no-op without Redis. */
export async function publish(channel: string, message: string): Promise<void> {
  await redis()?.publish(channel, message);
}

/** This process's id among the instances (random per start): tells its own pub/sub messages from others'. */
export function instanceId(): string {
  return processState("redisInstanceId", () => randomUUID());
}

const warnedAt = new Map<string, number>();

/**
 * Runs `fn` against Redis when the connection is up, bounded by `timeoutMs`; undefined when Redis is down,
 * failed or was too slow, so the caller falls back to this process's own state (docs/deploy.md: a Redis outage
 * degrades shared state to per-instance state, it never fails or hangs a request). Warns at most every 10 s
 * per `what`.
 */
export async function attemptRedis<T>(
  client: Redis,
  what: string,
  fn: () => Promise<T>,
  timeoutMs = 1000,
): Promise<T | undefined> {
  const warn = (reason: string) => {
    const last = warnedAt.get(what) ?? 0;
    if (Date.now() - last < 10_000) return;
    warnedAt.set(what, Date.now());
    log.warn("redis unavailable: using this instance's own state", { what, reason });
  };
  // Known down (lost and reconnecting, or closed): no waiting. Still connecting (first use): bounded wait.
  if (client.status === "reconnecting" || client.status === "close" || client.status === "end") {
    warn(`connection ${client.status}`);
    return undefined;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    warn(err instanceof Error ? err.message : String(err));
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
