import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CircuitBreakers,
  MemoryBreakerStore,
  type Admission,
  type BreakerConfig,
  type BreakerTarget,
  type Outcome,
} from "@/lib/limits/breaker";

function clock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

const CONFIG: BreakerConfig = {
  failureThreshold: 3,
  coolDownMs: 1000,
  probeTimeoutMs: 60_000,
  originUsers: 3,
  originWindowMs: 5000,
};

function breakers(config: Partial<BreakerConfig> = {}) {
  const c = clock();
  const b = new CircuitBreakers(() => ({ ...CONFIG, ...config }), new MemoryBreakerStore(), c.now);
  /** One whole call: admitted and recorded at once, or refused. */
  const call = async (t: BreakerTarget, outcome: Outcome): Promise<Admission> => {
    const a = await b.admit(t);
    if (a.ok) await b.record(t, a, outcome, `${outcome} of ${t.user}`);
    return a;
  };
  return { b, c, call };
}

const HOST = "https://host.example";
const at = (user: string, path: string): BreakerTarget => ({ user, server: `${HOST}${path}`, origin: HOST });

describe("a user's circuit for one server", () => {
  it("opens after N consecutive failures, fails fast, lets one probe through after the cool-down", async () => {
    const { b, c, call } = breakers({ originUsers: 0 });
    const t = at("u", "/mcp");
    for (let i = 0; i < 2; i++) await call(t, "failure");
    await call(t, "success"); // a success resets the count
    for (let i = 0; i < 3; i++)
      expect(await call(t, "failure")).toEqual({ ok: true, probe: false, originProbe: false });
    const refused = await b.admit(t);
    expect(refused).toMatchObject({
      ok: false,
      scope: "server",
      retryAfterMs: 1000,
      snapshot: { state: "open", consecutiveFailures: 3, lastFailure: "failure of u" },
    });
    c.advance(1000);
    const probe = await b.admit(t);
    expect(probe).toEqual({ ok: true, probe: true, originProbe: false });
    expect((await b.snapshot(t)).server.state).toBe("half_open");
    expect((await b.admit(t)).ok).toBe(false); // one probe at a time
    await b.record(t, probe as { probe: boolean; originProbe: boolean }, "failure");
    expect((await b.snapshot(t)).server.state).toBe("open");
    c.advance(1000);
    expect(await call(t, "success")).toEqual({ ok: true, probe: true, originProbe: false });
    expect((await b.snapshot(t)).server).toEqual({ state: "closed", consecutiveFailures: 0 });
  });

  it("a neutral probe frees the probe slot; a stale success does not close an open circuit; a stuck probe times out", async () => {
    const { b, c } = breakers({ originUsers: 0 });
    const t = at("u", "/mcp");
    const admitted = await Promise.all([1, 2, 3, 4].map(() => b.admit(t)));
    for (const a of admitted.slice(0, 3)) if (a.ok) await b.record(t, a, "failure");
    if (admitted[3].ok) await b.record(t, admitted[3], "success"); // admitted before it opened
    expect((await b.snapshot(t)).server.state).toBe("open");
    c.advance(1000);
    const probe = await b.admit(t);
    expect(probe).toMatchObject({ ok: true, probe: true });
    if (probe.ok) await b.record(t, probe, "neutral");
    expect(await b.admit(t)).toMatchObject({ ok: true, probe: true });
    expect((await b.admit(t)).ok).toBe(false);
    c.advance(60_001); // that probe never reported
    expect(await b.admit(t)).toMatchObject({ ok: true, probe: true });
  });

  it("neutral outcomes never count", async () => {
    const { b, call } = breakers();
    for (let i = 0; i < 10; i++) await call(at("u", "/mcp"), "neutral");
    expect((await b.snapshot(at("u", "/mcp"))).server.state).toBe("closed");
  });
});

describe("tenants on one origin", () => {
  it("one user's failing server never pauses another user's server on the same origin", async () => {
    const { b, call } = breakers();
    for (let i = 0; i < 20; i++) await call(at("b", "/b/mcp"), "failure");
    expect(await b.admit(at("b", "/b/mcp"))).toMatchObject({ ok: false, scope: "server" });
    expect(await b.admit(at("a", "/a/mcp"))).toMatchObject({ ok: true });
    // nor another user's circuit for that very URL
    expect(await b.admit(at("a", "/b/mcp"))).toMatchObject({ ok: true });
    // nor the same user's other servers
    expect(await b.admit(at("b", "/c/mcp"))).toMatchObject({ ok: true });
    expect((await b.snapshot(at("a", "/a/mcp"))).origin?.state).toBe("closed");
  });

  it("failures of enough distinct users within the window open the origin for everybody", async () => {
    const { b, c, call } = breakers();
    await call(at("b", "/b/mcp"), "failure");
    c.advance(6000); // outside the window: forgotten
    await call(at("c", "/c/mcp"), "failure");
    await call(at("d", "/d/mcp"), "failure");
    expect(await b.admit(at("a", "/a/mcp"))).toMatchObject({ ok: true });
    await call(at("b", "/b/mcp"), "failure");
    const refused = await b.admit(at("a", "/a/mcp"));
    expect(refused).toMatchObject({ ok: false, scope: "origin", retryAfterMs: 1000 });
    c.advance(1000);
    expect(await call(at("a", "/a/mcp"), "success")).toMatchObject({ ok: true, originProbe: true });
    expect((await b.snapshot(at("a", "/a/mcp"))).origin?.state).toBe("closed");
  });

  it("any success on the origin starts the storm count over; 0 users turns the origin circuit off", async () => {
    const { b, call } = breakers();
    await call(at("b", "/b/mcp"), "failure");
    await call(at("c", "/c/mcp"), "failure");
    await call(at("a", "/a/mcp"), "success");
    await call(at("d", "/d/mcp"), "failure");
    expect(await b.admit(at("a", "/a/mcp"))).toMatchObject({ ok: true });

    const off = breakers({ originUsers: 0 });
    for (const u of ["b", "c", "d", "e"]) await off.call(at(u, `/${u}/mcp`), "failure");
    expect(await off.b.admit(at("a", "/a/mcp"))).toMatchObject({ ok: true });
  });

  it("a user's probe refused by the open origin keeps its slot free", async () => {
    const { b, c, call } = breakers({ coolDownMs: 1000 });
    for (let i = 0; i < 3; i++) await call(at("a", "/a/mcp"), "failure"); // a's circuit opens
    c.advance(1000);
    for (const u of ["b", "c", "d"]) await call(at(u, `/${u}/mcp`), "failure"); // the origin opens
    expect(await b.admit(at("a", "/a/mcp"))).toMatchObject({ ok: false, scope: "origin" });
    c.advance(1000);
    expect(await b.admit(at("a", "/a/mcp"))).toEqual({ ok: true, probe: true, originProbe: true });
  });

  it("the store stays bounded: the oldest circuits that pause nothing go first", async () => {
    const store = new MemoryBreakerStore(10);
    const b = new CircuitBreakers(() => ({ ...CONFIG, failureThreshold: 1, originUsers: 0 }), store);
    const first = await b.admit(at("u0", "/mcp"));
    if (first.ok) await b.record(at("u0", "/mcp"), first, "failure"); // open: kept
    const past = { state: "open" as const, failures: 1, retryAt: 0 }; // cool-down long over
    await store.update(`server\u0000old\u0000${HOST}/mcp`, () => [past, 0]);
    for (let i = 1; i < 30; i++) {
      const t = { user: `u${i}`, server: `${HOST}/mcp` };
      await store.update(`server\u0000${t.user}\u0000${t.server}`, () => [
        { state: "closed", failures: 1 },
        0,
      ]);
    }
    expect((await b.snapshot(at("u0", "/mcp"))).server.state).toBe("open");
    expect((await b.snapshot(at("u1", "/mcp"))).server.state).toBe("closed");
    expect(await store.read(`server\u0000old\u0000${HOST}/mcp`)).toBeUndefined();
    expect(await store.read(`server\u0000u29\u0000${HOST}/mcp`)).toBeDefined();
  });
});

// ---------------------------------------------------------------------------------------------------------
// Against a small model: whole calls (admitted and reported at once) by a few users on a few paths of one
// origin, and the clock moving on. The model keeps, per circuit, only "failures" and "open until".

type ModelCircuit = { failures: number; openUntil?: number; users: Map<string, number> };
const fresh = (): ModelCircuit => ({ failures: 0, users: new Map() });

function modelCall(
  m: { servers: Map<string, ModelCircuit>; origin: ModelCircuit; now: number },
  cfg: BreakerConfig,
  user: string,
  path: string,
  outcome: Outcome,
): { ok: boolean; scope?: "server" | "origin"; retryAfterMs?: number } {
  const key = `${user} ${path}`;
  const s = m.servers.get(key) ?? fresh();
  m.servers.set(key, s);
  const o = m.origin;
  if (s.openUntil !== undefined && m.now < s.openUntil)
    return { ok: false, scope: "server", retryAfterMs: s.openUntil - m.now };
  if (cfg.originUsers > 0 && o.openUntil !== undefined && m.now < o.openUntil)
    return { ok: false, scope: "origin", retryAfterMs: o.openUntil - m.now };
  const serverProbe = s.openUntil !== undefined;
  const originProbe = o.openUntil !== undefined;
  if (outcome === "success") {
    m.servers.set(key, fresh());
    m.origin = fresh();
  } else if (outcome === "failure") {
    s.failures++;
    if (serverProbe || s.failures >= cfg.failureThreshold) s.openUntil = m.now + cfg.coolDownMs;
    if (originProbe) o.openUntil = m.now + cfg.coolDownMs;
    else if (cfg.originUsers > 0) {
      for (const [u, t] of o.users) if (m.now - t >= cfg.originWindowMs) o.users.delete(u);
      o.users.set(user, m.now);
      if (o.users.size >= cfg.originUsers) {
        o.users.clear();
        o.openUntil = m.now + cfg.coolDownMs;
      }
    }
  }
  return { ok: true };
}

const step = fc.oneof(
  fc.record({
    user: fc.constantFrom("a", "b", "c", "d"),
    path: fc.constantFrom("/a/mcp", "/b/mcp"),
    outcome: fc.constantFrom<Outcome>("success", "failure", "failure", "neutral"),
  }),
  fc.record({ wait: fc.integer({ min: 1, max: 3000 }) }),
);

describe("breakers against the model", () => {
  it("admit and refuse exactly as the model does, with the same Retry-After", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 80 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        async (steps, failureThreshold, originUsers) => {
          const cfg = { ...CONFIG, failureThreshold, originUsers, coolDownMs: 2000, originWindowMs: 4000 };
          const { c, call } = breakers(cfg);
          const m = { servers: new Map<string, ModelCircuit>(), origin: fresh(), now: c.now() };
          for (const s of steps) {
            if ("wait" in s) {
              c.advance(s.wait);
              m.now += s.wait;
              continue;
            }
            const want = modelCall(m, cfg, s.user, s.path, s.outcome);
            const got = await call(at(s.user, s.path), s.outcome);
            expect(got.ok).toBe(want.ok);
            if (!got.ok)
              expect({ ok: false, scope: got.scope, retryAfterMs: got.retryAfterMs }).toEqual(want);
          }
        },
      ),
    );
  });

  it("a user whose calls never fail is refused only after failures of `originUsers` other users", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 80 }), async (steps) => {
        const { b, c, call } = breakers();
        const failed = new Set<string>();
        for (const s of steps) {
          if ("wait" in s) c.advance(s.wait);
          else if (s.user !== "a") {
            const got = await call(at(s.user, s.path), s.outcome);
            if (got.ok && s.outcome === "failure") failed.add(s.user);
          }
          const a = await b.admit(at("a", "/a/mcp"));
          if (!a.ok) expect(failed.size).toBeGreaterThanOrEqual(CONFIG.originUsers);
          else await b.record(at("a", "/a/mcp"), a, "neutral");
        }
      }),
    );
  });
});
