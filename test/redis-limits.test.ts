// Limits and breakers shared through Redis (lib/limits/shared.ts), against the machine's Redis. Property tests
// run random sequences on two "instances" (independent connections sharing one key prefix) on a virtual clock
// and compare every answer with a small model (for breakers: the in-process store, whose behaviour is the
// spec). Then the same through two connections on Redis's own clock: a budget spent on one is spent on the
// other, a killed instance's slots come back, a breaker opened through one is open on the other.
import fc from "fast-check";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  CircuitBreakers,
  MemoryBreakerStore,
  type Admission,
  type BreakerConfig,
  type BreakerTarget,
  type Outcome,
} from "@/lib/limits/breaker";
import {
  countSharedBreakers,
  RedisBreakerStore,
  SharedCallLimiter,
  type LimitConfig,
} from "@/lib/limits/shared";
import { keyUnder, redisConnections } from "./redis-helpers";
import { waitFor } from "./wait";

const redis = redisConnections();
afterEach(() => redis.cleanup());
afterAll(() => redis.cleanup());

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** The limiter's spec: a token bucket and a set of leases with expiry per user. */
class LimiterModel {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly leases = new Map<string, Map<string, number>>();
  constructor(private readonly leaseMs: number) {}

  private tokens(user: string, c: LimitConfig, now: number): number {
    const b = this.buckets.get(user);
    if (!b) return c.burst;
    return now > b.at
      ? Math.min(c.burst, b.tokens + ((now - b.at) / 1000) * c.ratePerSec)
      : Math.min(c.burst, b.tokens);
  }

  private wait(tokens: number, c: LimitConfig): number {
    return c.ratePerSec > 0 ? Math.ceil(((1 - tokens) / c.ratePerSec) * 1000) : 60_000;
  }

  admit(user: string, c: LimitConfig, now: number, lease: () => string) {
    const tokens = this.tokens(user, c, now);
    if (tokens < 1) return { ok: false as const, limit: "rate" as const, retryAfterMs: this.wait(tokens, c) };
    this.buckets.set(user, { tokens: tokens - 1, at: now });
    const nextTokenInMs = tokens - 1 < 1 ? this.wait(tokens - 1, c) : 0;
    const set = this.leases.get(user) ?? new Map<string, number>();
    this.leases.set(user, set);
    for (const [id, exp] of set) if (exp <= now) set.delete(id);
    if (set.size >= c.maxConcurrent)
      return { ok: false as const, limit: "concurrency" as const, retryAfterMs: 1000 };
    const id = lease();
    set.set(id, now + this.leaseMs);
    return { ok: true as const, lease: id, nextTokenInMs };
  }

  rateWait(user: string, c: LimitConfig, now: number): number {
    const tokens = this.tokens(user, c, now);
    return tokens < 1 ? this.wait(tokens, c) : 0;
  }

  release(user: string, lease: string) {
    this.leases.get(user)?.delete(lease);
  }

  renew(held: { user: string; lease: string }[], now: number) {
    for (const { user, lease } of held) {
      const set = this.leases.get(user);
      if (set?.has(lease)) set.set(lease, now + this.leaseMs);
    }
  }

  inflight(user: string, now: number): number {
    return [...(this.leases.get(user)?.values() ?? [])].filter((exp) => exp > now).length;
  }
}

type LimiterOp =
  | { t: "admit"; inst: number; user: number }
  | { t: "release"; pick: number }
  | { t: "advance"; ms: number }
  | { t: "renew"; inst: number }
  | { t: "kill"; inst: number }
  | { t: "inflight"; user: number }
  | { t: "peek"; user: number };

const limiterOp: fc.Arbitrary<LimiterOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("admit" as const), inst: fc.nat(1), user: fc.nat(1) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("release" as const), pick: fc.nat(20) }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 8_000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("renew" as const), inst: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("kill" as const), inst: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("inflight" as const), user: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("peek" as const), user: fc.nat(1) }) },
);

describe("shared limiter (Redis) against its model", () => {
  it("answers every admit, release, renewal, kill and clock step like the model, across two instances", async () => {
    const a = redis.connect();
    const b = redis.connect();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          // Slow refills: a bucket key Redis expires on its real clock would be full on the virtual one too.
          ratePerSec: fc.constantFrom(0.25, 0.5, 1),
          burst: fc.integer({ min: 1, max: 4 }),
          maxConcurrent: fc.integer({ min: 1, max: 3 }),
        }),
        fc.constantFrom(5_000, 20_000),
        fc.array(limiterOp, { minLength: 1, maxLength: 60 }),
        async (cfg, leaseMs, ops) => {
          const c = clock();
          const key = keyUnder(redis.prefix());
          const instances = [a, b].map((r) => new SharedCallLimiter(r, key, { leaseMs, now: c.now }));
          const model = new LimiterModel(leaseMs);
          const open: { inst: number; user: string; lease: string; modelLease: string }[] = [];
          let n = 0;
          try {
            for (const op of ops) {
              if (op.t === "admit") {
                const user = `u${op.user}`;
                const got = await instances[op.inst].admit(user, cfg);
                const want = model.admit(user, cfg, c.now(), () => `m${++n}`);
                expect(got.ok).toBe(want.ok);
                if (got.ok && want.ok) expect(got.nextTokenInMs).toBe(want.nextTokenInMs);
                if (got.ok && want.ok)
                  open.push({ inst: op.inst, user, lease: got.lease, modelLease: want.lease });
                else expect(got).toEqual(want);
              } else if (op.t === "release" && open.length) {
                const [l] = open.splice(op.pick % open.length, 1);
                await instances[l.inst].release(l.user, l.lease);
                model.release(l.user, l.modelLease);
              } else if (op.t === "advance") {
                c.advance(op.ms);
              } else if (op.t === "renew") {
                await instances[op.inst].renew();
                model.renew(
                  open.filter((l) => l.inst === op.inst).map((l) => ({ user: l.user, lease: l.modelLease })),
                  c.now(),
                );
              } else if (op.t === "kill") {
                // The instance dies: it neither releases nor renews its calls' slots.
                instances[op.inst].abandon();
                for (let i = open.length - 1; i >= 0; i--) if (open[i].inst === op.inst) open.splice(i, 1);
              } else if (op.t === "inflight") {
                expect(await instances[0].inflight(`u${op.user}`)).toBe(
                  model.inflight(`u${op.user}`, c.now()),
                );
              } else if (op.t === "peek") {
                expect(await instances[1].rateWait(`u${op.user}`, cfg)).toBe(
                  model.rateWait(`u${op.user}`, cfg, c.now()),
                );
              }
            }
          } finally {
            instances.forEach((i) => i.abandon());
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

type BreakerOp =
  | { t: "admit"; inst: number; user: number; server: number }
  | { t: "record"; pick: number; outcome: Outcome }
  | { t: "advance"; ms: number }
  | { t: "snapshot"; inst: number; user: number; server: number };

const breakerOp: fc.Arbitrary<BreakerOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("admit" as const),
      inst: fc.nat(1),
      user: fc.nat(2),
      server: fc.nat(1),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("record" as const),
      pick: fc.nat(20),
      outcome: fc.constantFrom<Outcome>("success", "failure", "failure", "neutral"),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 6_000 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("snapshot" as const),
      inst: fc.nat(1),
      user: fc.nat(2),
      server: fc.nat(1),
    }),
  },
);

const target = (user: number, server: number): BreakerTarget => ({
  user: `u${user}`,
  server: `http://origin.test/s${server}`,
  origin: "http://origin.test",
});

describe("Redis breaker store against the in-process one", () => {
  it("two instances on one Redis answer every admission and snapshot like one process does", async () => {
    const a = redis.connect();
    const b = redis.connect();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          failureThreshold: fc.integer({ min: 1, max: 3 }),
          coolDownMs: fc.integer({ min: 500, max: 5_000 }),
          probeTimeoutMs: fc.constant(10_000),
          originUsers: fc.integer({ min: 0, max: 2 }),
          originWindowMs: fc.integer({ min: 1_000, max: 5_000 }),
        }),
        fc.array(breakerOp, { minLength: 1, maxLength: 60 }),
        async (cfg: BreakerConfig, ops) => {
          const c = clock();
          const key = keyUnder(redis.prefix());
          const shared = [a, b].map(
            (r) => new CircuitBreakers(() => cfg, new RedisBreakerStore(r, key), c.now),
          );
          const model = new CircuitBreakers(() => cfg, new MemoryBreakerStore(), c.now);
          const pending: {
            t: BreakerTarget;
            got: Admission & { ok: true };
            want: Admission & { ok: true };
          }[] = [];
          for (const op of ops) {
            if (op.t === "admit") {
              const t = target(op.user, op.server);
              const got = await shared[op.inst].admit(t);
              const want = await model.admit(t);
              expect(got).toEqual(want);
              if (got.ok && want.ok) pending.push({ t, got, want });
            } else if (op.t === "record" && pending.length) {
              const [p] = pending.splice(op.pick % pending.length, 1);
              await shared[op.pick % 2].record(p.t, p.got, op.outcome, "boom");
              await model.record(p.t, p.want, op.outcome, "boom");
            } else if (op.t === "advance") {
              c.advance(op.ms);
            } else if (op.t === "snapshot") {
              const t = target(op.user, op.server);
              expect(await shared[op.inst].snapshot(t)).toEqual(await model.snapshot(t));
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("concurrent updates of one entry from two connections lose none", async () => {
    const key = keyUnder(redis.prefix());
    const stores = [new RedisBreakerStore(redis.connect(), key), new RedisBreakerStore(redis.connect(), key)];
    await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        stores[i % 2].update("k", (e) => [{ state: "closed", failures: (e?.failures ?? 0) + 1 }, undefined]),
      ),
    );
    expect((await stores[0].read("k"))?.failures).toBe(120);
    await stores[1].clear();
    expect(await stores[0].read("k")).toBeUndefined();
  });

  it("counts the deployment's breakers by state, whichever instance wrote them (the metrics gauge)", async () => {
    const key = keyUnder(redis.prefix());
    const [a, b] = [new RedisBreakerStore(redis.connect(), key), new RedisBreakerStore(redis.connect(), key)];
    const other = new RedisBreakerStore(redis.connect(), keyUnder(redis.prefix()));
    const states = ["open", "open", "closed", "half_open", "open", "closed"] as const;
    await Promise.all(
      states.map((state, i) => (i % 2 ? a : b).update(`k${i}`, () => [{ state, failures: 1 }, undefined])),
    );
    await other.update("k0", () => [{ state: "open", failures: 3 }, undefined]);
    expect(await countSharedBreakers(redis.connect(), key)).toEqual({ open: 3, closed: 2, half_open: 1 });
  });
});

describe("two instances on Redis's clock", () => {
  it("share one user's rate budget and concurrency slots", async () => {
    const key = keyUnder(redis.prefix());
    const [a, b] = [redis.connect(), redis.connect()].map((r) => new SharedCallLimiter(r, key));
    const cfg = { ratePerSec: 1 / 3600, burst: 3, maxConcurrent: 2 };
    const first = await a.admit("u", cfg);
    const second = await b.admit("u", cfg);
    expect(first.ok && second.ok).toBe(true);
    // Two slots in use, one on each instance: the third call is refused on either (its token is spent).
    expect(await a.admit("u", cfg)).toMatchObject({ ok: false, limit: "concurrency" });
    expect(await b.inflight("u")).toBe(2);
    if (first.ok) await a.release("u", first.lease);
    expect(await b.inflight("u")).toBe(1);
    // Three tokens spent across both: the budget is gone everywhere.
    expect(await b.admit("u", cfg)).toMatchObject({ ok: false, limit: "rate" });
    expect(await a.rateWait("u", cfg)).toBeGreaterThan(0);
    expect((await a.admit("other", cfg)).ok).toBe(true); // users apart
    a.abandon();
    b.abandon();
  });

  it("a killed instance's slots come back once their lease runs out", async () => {
    const key = keyUnder(redis.prefix());
    const leaseMs = 400;
    const dead = new SharedCallLimiter(redis.connect(), key, { leaseMs });
    const alive = new SharedCallLimiter(redis.connect(), key, { leaseMs });
    const cfg = { ratePerSec: 1000, burst: 1000, maxConcurrent: 2 };
    expect((await dead.admit("u", cfg)).ok).toBe(true);
    expect((await dead.admit("u", cfg)).ok).toBe(true);
    dead.abandon(); // SIGKILL: no release, no renewal
    expect(await alive.admit("u", cfg)).toMatchObject({ ok: false, limit: "concurrency" });
    await waitFor(async () => (await alive.admit("u", cfg)).ok, {
      what: "the dead instance's slots expiring",
    });
    alive.abandon();
  });

  it("an instance's renewals keep its calls' slots while they run", async () => {
    const key = keyUnder(redis.prefix());
    const c = clock();
    const [a, b] = [redis.connect(), redis.connect()].map(
      (r) => new SharedCallLimiter(r, key, { leaseMs: 5_000, now: c.now }),
    );
    const cfg = { ratePerSec: 1000, burst: 1000, maxConcurrent: 1 };
    expect((await a.admit("u", cfg)).ok).toBe(true);
    for (let i = 0; i < 5; i++) {
      c.advance(3_000);
      await a.renew();
      expect(await b.admit("u", cfg)).toMatchObject({ ok: false, limit: "concurrency" });
    }
    a.abandon();
    c.advance(5_000);
    expect((await b.admit("u", cfg)).ok).toBe(true);
    b.abandon();
  });

  it("a breaker opened through one instance is open on the other", async () => {
    const key = keyUnder(redis.prefix());
    const cfg: BreakerConfig = {
      failureThreshold: 2,
      coolDownMs: 60 * 60_000,
      probeTimeoutMs: 60_000,
      originUsers: 2,
      originWindowMs: 60_000,
    };
    const [a, b] = [redis.connect(), redis.connect()].map(
      (r) => new CircuitBreakers(() => cfg, new RedisBreakerStore(r, key)),
    );
    const t = target(0, 0);
    for (let i = 0; i < 2; i++) {
      const admitted = await a.admit(t);
      if (!admitted.ok) throw new Error("refused before the threshold");
      await a.record(t, admitted, "failure", "connection refused");
    }
    expect(await b.admit(t)).toMatchObject({ ok: false, scope: "server", snapshot: { state: "open" } });
    expect((await b.snapshot(t)).server).toMatchObject({ state: "open", consecutiveFailures: 2 });
    // Another user on the same origin is not paused by one user's failures …
    expect((await b.admit(target(1, 0))).ok).toBe(true);
  });
});
