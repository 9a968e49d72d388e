import { describe, expect, it } from "vitest";
import { CircuitBreakers } from "@/lib/limits/breaker";
import { ConcurrencyLimiter } from "@/lib/limits/concurrency";
import { TokenBuckets } from "@/lib/limits/rate-limit";

function clock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe("TokenBuckets", () => {
  it("allows a burst, then refills at the rate and says how long to wait", () => {
    const c = clock();
    const b = new TokenBuckets(() => ({ ratePerSec: 10, burst: 5 }), c.now);
    for (let i = 0; i < 5; i++) expect(b.take("u").ok).toBe(true);
    const refused = b.take("u");
    expect(refused).toEqual({ ok: false, retryAfterMs: 100 });
    expect(b.peek("u").ok).toBe(false);
    c.advance(100);
    expect(b.peek("u").ok).toBe(true); // peeking consumes nothing
    expect(b.take("u").ok).toBe(true);
    expect(b.take("u").ok).toBe(false);
    c.advance(10_000);
    for (let i = 0; i < 5; i++) expect(b.take("u").ok).toBe(true); // capped at the burst
    expect(b.take("u").ok).toBe(false);
  });

  it("keeps users apart", () => {
    const b = new TokenBuckets(() => ({ ratePerSec: 1, burst: 1 }), clock().now);
    expect(b.take("a").ok).toBe(true);
    expect(b.take("a").ok).toBe(false);
    expect(b.take("b").ok).toBe(true);
  });
});

describe("ConcurrencyLimiter", () => {
  it("refuses past the maximum and frees a slot once per release", () => {
    const l = new ConcurrencyLimiter();
    const r1 = l.tryAcquire("u", 2)!;
    const r2 = l.tryAcquire("u", 2)!;
    expect(l.tryAcquire("u", 2)).toBeNull();
    expect(l.tryAcquire("other", 2)).not.toBeNull();
    r1();
    r1(); // idempotent
    expect(l.count("u")).toBe(1);
    expect(l.tryAcquire("u", 2)).not.toBeNull();
    r2();
  });
});

describe("CircuitBreakers", () => {
  const config = { failureThreshold: 3, coolDownMs: 1000, probeTimeoutMs: 60_000 };

  it("opens after N consecutive failures, fails fast, lets one probe through after the cool-down", () => {
    const c = clock();
    const b = new CircuitBreakers(() => config, c.now);
    for (let i = 0; i < 2; i++) b.record("o", false, "failure", "boom");
    b.record("o", false, "success"); // a success resets the count
    for (let i = 0; i < 3; i++) {
      expect(b.admit("o")).toEqual({ ok: true, probe: false });
      b.record("o", false, "failure", `boom ${i}`);
    }
    const refused = b.admit("o");
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.retryAfterMs).toBe(1000);
      expect(refused.snapshot).toMatchObject({
        state: "open",
        consecutiveFailures: 3,
        lastFailure: "boom 2",
      });
    }
    c.advance(1000);
    expect(b.admit("o")).toEqual({ ok: true, probe: true });
    expect(b.snapshot("o").state).toBe("half_open");
    expect(b.admit("o").ok).toBe(false); // one probe at a time
    b.record("o", true, "failure", "still down");
    expect(b.snapshot("o").state).toBe("open");
    c.advance(1000);
    expect(b.admit("o")).toEqual({ ok: true, probe: true });
    b.record("o", true, "success");
    expect(b.snapshot("o")).toEqual({ state: "closed", consecutiveFailures: 0 });
    expect(b.admit("o")).toEqual({ ok: true, probe: false });
  });

  it("a neutral probe frees the probe slot; a stale success does not close an open circuit", () => {
    const c = clock();
    const b = new CircuitBreakers(() => config, c.now);
    for (let i = 0; i < 3; i++) b.record("o", false, "failure");
    b.record("o", false, "success"); // admitted before it opened
    expect(b.snapshot("o").state).toBe("open");
    c.advance(1000);
    expect(b.admit("o").ok).toBe(true);
    b.record("o", true, "neutral");
    expect(b.admit("o")).toEqual({ ok: true, probe: true });
  });

  it("neutral outcomes never count", () => {
    const b = new CircuitBreakers(() => config);
    for (let i = 0; i < 10; i++) b.record("o", false, "neutral");
    expect(b.snapshot("o").state).toBe("closed");
  });
});
