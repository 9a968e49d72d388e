import { describe, expect, it } from "vitest";
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
