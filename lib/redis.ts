// The one Redis connection module. Redis is optional: without REDIS_URL every caller keeps its state in this
// process (one instance). With it, instances share limits, breakers, notifications, tunnels and agent
// sessions (docs/deploy.md). Two connections per process: commands, and one in subscriber mode for pub/sub
// (a connection that subscribes can send nothing else). Every key and channel goes through `key()`, so
// deployments (and test runs) sharing one Redis stay apart by REDIS_PREFIX.
import { Redis } from "ioredis";
import { env } from "@/lib/env";
import { log } from "@/lib/log";
import { processState } from "@/lib/state";

type Handler = (message: string) => void;

type RedisState = {
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

function state(): RedisState | undefined {
  const url = env().REDIS_URL;
  if (!url) return undefined;
  return processState(
    "redis",
    () => ({ client: connect(url, "cmd"), handlers: new Map<string, Set<Handler>>() }),
    async (s: RedisState) => {
      await Promise.allSettled([s.client.quit(), s.subscriber?.quit()]);
    },
  );
}

/** True when REDIS_URL is set: state is shared across instances. */
export function redisEnabled(): boolean {
  return Boolean(env().REDIS_URL);
}

/** The command connection, or undefined when Redis is not configured. */
export function redis(): Redis | undefined {
  return state()?.client;
}

/** A key or channel name under this deployment's prefix. */
export function redisKey(...parts: string[]): string {
  return env().REDIS_PREFIX + parts.join(":");
}

/**
 * Subscribes `handler` to a channel (already prefixed with `redisKey`). Returns the unsubscribe function.
 * Without Redis it does nothing (returns a no-op): callers deliver locally themselves.
 */
export async function subscribe(channel: string, handler: Handler): Promise<() => Promise<void>> {
  const s = state();
  if (!s) return async () => {};
  if (!s.subscriber) {
    const sub = connect(env().REDIS_URL!, "sub");
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
    await s.subscriber.subscribe(channel);
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
