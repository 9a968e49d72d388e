// Limits and breakers shared by every instance through Redis (docs/deploy.md, "Redis"). Each decision is one
// atomic Lua script on Redis's own clock (`TIME`), so instances with drifting clocks agree:
//
// - the token bucket of lib/limits/rate-limit.ts, as a hash {tokens, at} per user that expires once it
//   would be full again;
// - concurrency as leased slots: a sorted set per user of lease ids scored by their expiry. Admitting a
//   call drops expired leases, then adds one if fewer than `max` remain; its instance renews the leases of
//   its calls in flight and removes each when the call ends. A killed instance renews nothing: its slots
//   come back within one lease time.
// - breaker entries (lib/limits/breaker.ts) as JSON strings, updated by compare-and-set: read, apply the
//   pure state machine, write only if the entry is still what was read (else read again). An update that
//   changes nothing writes nothing.
//
// Rate and concurrency are checked in one script (one round trip per call), in the in-process order: a
// call refused for concurrency has spent its token.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { BreakerEntry, BreakerState, BreakerStore } from "@/lib/limits/breaker";

export type KeyOf = (...parts: string[]) => string;
export type LimitConfig = { ratePerSec: number; burst: number; maxConcurrent: number };
export type SharedAdmission =
  /** `nextTokenInMs`: 0 while tokens are left, else how long until the next one (this call took the last) */
  | { ok: true; lease: string; nextTokenInMs: number }
  | { ok: false; limit: "rate" | "concurrency"; retryAfterMs: number };

// KEYS: bucket hash, lease set. ARGV: rate/s, burst, cost (0 = peek), max in flight (0 = no lease), lease id,
// lease ms, now ms ("" = Redis's clock; tests pass a virtual clock).
// Returns {0, msUntilNextToken} admitted (0: tokens are left), {1, retryAfterMs} no token, {2, retryAfterMs}
// no slot.
const ADMIT = `
local now = tonumber(ARGV[7])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max = tonumber(ARGV[4])
local leaseMs = tonumber(ARGV[6])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if not tokens or not at then
  tokens = burst
elseif now > at then
  tokens = math.min(burst, tokens + ((now - at) / 1000) * rate)
else
  tokens = math.min(burst, tokens)
end
if tokens < 1 then
  if rate > 0 then return {1, math.ceil(((1 - tokens) / rate) * 1000)} end
  return {1, 60000}
end
if ARGV[3] == '0' then return {0, 0} end
tokens = tokens - 1
local empty = 0
if tokens < 1 then
  if rate > 0 then empty = math.ceil(((1 - tokens) / rate) * 1000) else empty = 60000 end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', now)
if rate > 0 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate) * 1000) + 1000)
end
if max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= max then return {2, 1000} end
  redis.call('ZADD', KEYS[2], now + leaseMs, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], leaseMs)
end
return {0, empty}
`;

// KEYS: lease sets; ARGV: lease ms, now ("" = Redis's clock), then one lease id per key. Pushes each lease's
// expiry out (only leases still there: an expired one stays gone).
const RENEW = `
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local leaseMs = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', now + leaseMs, ARGV[i + 2]) == 1 then
    redis.call('PEXPIRE', KEYS[i], leaseMs)
  end
end
return 0
`;

// KEYS: lease set; ARGV: now ("" = Redis's clock). Leases not expired.
const COUNT = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;

// KEYS: entry; ARGV: expected JSON ("" = absent), new JSON ("" = delete), ms to keep it. 1 if written.
const CAS = `
local cur = redis.call('GET', KEYS[1])
if not cur then cur = '' end
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`;

type Scripts = {
  pokeLimitAdmit(...args: (string | number)[]): Promise<number[]>;
  pokeLimitRenew(...args: (string | number)[]): Promise<number>;
  pokeLimitCount(...args: (string | number)[]): Promise<number>;
  pokeBreakerCas(...args: (string | number)[]): Promise<number>;
};

/** The connection with the scripts defined on it (EVALSHA, loaded again by ioredis if Redis restarted). */
function scripts(r: Redis): Redis & Scripts {
  const s = r as Redis & Partial<Scripts>;
  if (!s.pokeLimitAdmit) {
    r.defineCommand("pokeLimitAdmit", { numberOfKeys: 2, lua: ADMIT });
    r.defineCommand("pokeLimitCount", { numberOfKeys: 1, lua: COUNT });
    r.defineCommand("pokeBreakerCas", { numberOfKeys: 1, lua: CAS });
    r.defineCommand("pokeLimitRenew", { lua: RENEW }); // key count given per call
  }
  return r as Redis & Scripts;
}

/** Deletes every key matching `pattern` (SCAN, never KEYS: it blocks Redis). */
export async function deleteMatching(r: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", pattern, "COUNT", 500);
    cursor = next;
    if (keys.length) await r.unlink(...keys);
  } while (cursor !== "0");
}

export type SharedLimiterOptions = {
  /** how long a slot outlives its instance's last renewal (renewed every third of it) */
  leaseMs?: number;
  /** a virtual clock (tests); default: Redis's own */
  now?: () => number;
};

/** Per-user rate and concurrency limits held in Redis, shared by every instance using the same keys. */
export class SharedCallLimiter {
  private readonly r: Redis & Scripts;
  private readonly leaseMs: number;
  /** this instance's leases in flight: lease id → its set's key */
  private readonly held = new Map<string, string>();
  private timer?: NodeJS.Timeout;

  constructor(
    r: Redis,
    private readonly key: KeyOf,
    private readonly opts: SharedLimiterOptions = {},
  ) {
    this.r = scripts(r);
    this.leaseMs = opts.leaseMs ?? 30_000;
  }

  private now(): string {
    return this.opts.now ? String(this.opts.now()) : "";
  }

  /** Takes a token and a slot for `user`, or says which limit refuses and for how long. */
  async admit(user: string, c: LimitConfig): Promise<SharedAdmission> {
    const lease = randomUUID();
    const slots = this.key("limits", "slots", user);
    const [code, wait] = await this.r.pokeLimitAdmit(
      this.key("limits", "rate", user),
      slots,
      c.ratePerSec,
      c.burst,
      1,
      c.maxConcurrent,
      lease,
      this.leaseMs,
      this.now(),
    );
    if (code === 1) return { ok: false, limit: "rate", retryAfterMs: wait };
    if (code === 2) return { ok: false, limit: "concurrency", retryAfterMs: wait };
    if (c.maxConcurrent > 0) this.hold(lease, slots);
    return { ok: true, lease, nextTokenInMs: wait };
  }

  /** Milliseconds until `user` has a token, or 0 now (consumes nothing). */
  async rateWait(user: string, c: Pick<LimitConfig, "ratePerSec" | "burst">): Promise<number> {
    const [code, wait] = await this.r.pokeLimitAdmit(
      this.key("limits", "rate", user),
      this.key("limits", "slots", user),
      c.ratePerSec,
      c.burst,
      0,
      0,
      "",
      this.leaseMs,
      this.now(),
    );
    return code === 0 ? 0 : wait;
  }

  /** Frees a slot (idempotent). */
  async release(user: string, lease: string): Promise<void> {
    this.held.delete(lease);
    if (this.held.size === 0) this.stopRenewing();
    await this.r.zrem(this.key("limits", "slots", user), lease);
  }

  /** Calls of `user` in flight on every instance (leases not expired). */
  async inflight(user: string): Promise<number> {
    return this.r.pokeLimitCount(this.key("limits", "slots", user), this.now());
  }

  /** Renews this instance's leases now (the timer does it every third of a lease time). */
  async renew(): Promise<void> {
    const entries = [...this.held];
    for (let i = 0; i < entries.length; i += 500) {
      const part = entries.slice(i, i + 500);
      await this.r.pokeLimitRenew(
        part.length,
        ...part.map(([, k]) => k),
        this.leaseMs,
        this.now(),
        ...part.map(([lease]) => lease),
      );
    }
  }

  /** Stops renewing (the leases then expire on their own): shutdown, or a test simulating a dead instance. */
  stopRenewing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Forgets this instance's leases without releasing them (a test's "killed instance"). */
  abandon(): void {
    this.held.clear();
    this.stopRenewing();
  }

  private hold(lease: string, slots: string): void {
    this.held.set(lease, slots);
    this.timer ??= setInterval(
      () => void this.renew().catch(() => {}),
      Math.max(10, Math.floor(this.leaseMs / 3)),
    ).unref();
  }
}

/** Breaker entries in Redis (see the head of this file); entries unused for `keepMs` are forgotten. */
export class RedisBreakerStore implements BreakerStore {
  private readonly r: Redis & Scripts;
  constructor(
    r: Redis,
    private readonly key: KeyOf,
    private readonly keepMs = 24 * 60 * 60_000,
  ) {
    this.r = scripts(r);
  }

  private entryKey(key: string): string {
    return this.key("breaker", key);
  }

  /** per key, the update this process runs last: updates of one key queue here, so only instances race */
  private readonly queues = new Map<string, Promise<unknown>>();

  update<T>(key: string, fn: (entry: BreakerEntry | undefined) => [BreakerEntry | undefined, T]): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(
      () => this.compareAndSet(key, fn),
      () => this.compareAndSet(key, fn),
    );
    this.queues.set(key, run);
    const forget = () => {
      if (this.queues.get(key) === run) this.queues.delete(key);
    };
    run.then(forget, forget);
    return run;
  }

  private async compareAndSet<T>(
    key: string,
    fn: (entry: BreakerEntry | undefined) => [BreakerEntry | undefined, T],
  ) {
    const k = this.entryKey(key);
    for (let attempt = 0; ; attempt++) {
      const raw = (await this.r.get(k)) ?? "";
      const [next, result] = fn(raw ? (JSON.parse(raw) as BreakerEntry) : undefined);
      const nextRaw = next ? JSON.stringify(next) : "";
      if (nextRaw === raw) return result; // nothing changes: the read is the decision
      if ((await this.r.pokeBreakerCas(k, raw, nextRaw, this.keepMs)) === 1) return result;
      if (attempt >= 50) throw new Error("breaker entry contended: gave up after 50 attempts");
      // Another instance wrote in between: read again after a short random pause, so racers spread out.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * (attempt + 1))));
    }
  }

  async read(key: string) {
    const raw = await this.r.get(this.entryKey(key));
    return raw ? (JSON.parse(raw) as BreakerEntry) : undefined;
  }

  async clear() {
    await deleteMatching(this.r, `${this.key("breaker", "")}*`);
  }
}

/**
 * The shared breakers by state (metrics): every entry of the deployment, read with SCAN + MGET (never KEYS,
 * which blocks Redis).
 */
export async function countSharedBreakers(r: Redis, key: KeyOf): Promise<Record<BreakerState, number>> {
  const out: Record<BreakerState, number> = { closed: 0, open: 0, half_open: 0 };
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", `${key("breaker", "")}*`, "COUNT", 500);
    cursor = next;
    if (!keys.length) continue;
    for (const raw of await r.mget(...keys)) {
      const state = raw ? (JSON.parse(raw) as BreakerEntry).state : undefined;
      if (state && state in out) out[state]++;
    }
  } while (cursor !== "0");
  return out;
}

/**
 * The shared store while Redis answers, this instance's own while it does not (each update goes to one or
 * the other): a Redis outage turns shared breakers into per-instance ones, never into failed calls.
 */
export class FailoverBreakerStore implements BreakerStore {
  constructor(
    private readonly shared: BreakerStore,
    private readonly local: BreakerStore,
    private readonly attempt: <T>(fn: () => Promise<T>) => Promise<T | undefined>,
  ) {}

  async update<T>(key: string, fn: (entry: BreakerEntry | undefined) => [BreakerEntry | undefined, T]) {
    const done = await this.attempt(async () => ({ result: await this.shared.update(key, fn) }));
    return done ? done.result : this.local.update(key, fn);
  }

  async read(key: string) {
    const done = await this.attempt(async () => ({ entry: await this.shared.read(key) }));
    return done ? done.entry : this.local.read(key);
  }

  async clear() {
    await Promise.all([this.attempt(() => this.shared.clear()), this.local.clear()]);
  }
}
