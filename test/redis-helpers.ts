// Redis for tests: the machine's server (REDIS_URL of the run, default 127.0.0.1:6379), a key prefix of its own
// per test so tests never see each other's keys, and cleanup of everything under it.
import { randomBytes } from "node:crypto";
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
