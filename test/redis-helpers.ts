// Redis for tests: the machine's server (REDIS_URL of the run, default 127.0.0.1:6379), a key prefix of its own
// per test so tests never see each other's keys, and cleanup of everything under it.
import { randomBytes } from "node:crypto";
import net from "node:net";
import { Redis } from "ioredis";
import { deleteMatching } from "@/lib/limits/shared";

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** `poke-test:<random>:` — unique per call. */
export const uniquePrefix = () => `poke-test:${randomBytes(6).toString("hex")}:`;

/** Key builder like lib/redis.ts `redisKey`, under `prefix`. */
export const keyUnder =
  (prefix: string) =>
  (...parts: string[]) =>
    prefix + parts.join(":");

/** An independent connection (another "instance"); closed and its prefix's keys deleted by `cleanup`. */
export function redisConnections() {
  const open: Redis[] = [];
  const prefixes: string[] = [];
  return {
    connect(): Redis {
      const r = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      open.push(r);
      return r;
    },
    prefix(): string {
      const p = uniquePrefix();
      prefixes.push(p);
      return p;
    },
    async cleanup(): Promise<void> {
      const r = new Redis(TEST_REDIS_URL);
      for (const p of prefixes.splice(0)) await deleteMatching(r, `${p}*`);
      await r.quit();
      await Promise.all(open.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}

/**
 * A loopback relay in front of the test Redis, for a client that must see Redis slow: while `hold()` lasts,
 * what clients send waits in the relay; `release()` sends it on, in order.
 */
export async function redisRelay(): Promise<{
  url: string;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}> {
  const target = new URL(TEST_REDIS_URL);
  let held: (() => void)[] | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (d) => (held ? held.push(() => upstream.write(d)) : upstream.write(d)));
    upstream.on("data", (d) => client.write(d));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = new URL(TEST_REDIS_URL);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.href,
    hold: () => void (held ??= []),
    release: () => {
      const queued = held ?? [];
      held = undefined;
      for (const send of queued) send();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
