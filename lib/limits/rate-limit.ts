// Token buckets keyed by an arbitrary string (a user id): `ratePerSec` tokens refill continuously up to
// `burst`. In-process state — each app instance enforces its own budget (see lib/limits/calls.ts).

export type BucketConfig = { ratePerSec: number; burst: number };
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

type Bucket = { tokens: number; at: number };

/** Past this many keys, full buckets (indistinguishable from absent ones) are swept out. */
const SWEEP_AT = 10_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly config: () => BucketConfig,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Consumes one token, or says how long until one is available. */
  take(key: string): TakeResult {
    const r = this.peek(key);
    if (r.ok) this.buckets.get(key)!.tokens -= 1;
    return r;
  }

  /** Like take() without consuming: used to shed load before any work is done. */
  peek(key: string): TakeResult {
    const b = this.refill(key);
    return b.tokens >= 1 ? { ok: true } : { ok: false, retryAfterMs: this.wait(b) };
  }

  clear(): void {
    this.buckets.clear();
  }

  private wait(b: Bucket): number {
    const { ratePerSec } = this.config();
    return ratePerSec > 0 ? Math.ceil(((1 - b.tokens) / ratePerSec) * 1000) : 60_000;
  }

  private refill(key: string): Bucket {
    const { ratePerSec, burst } = this.config();
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= SWEEP_AT) this.sweep(t);
      b = { tokens: burst, at: t };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * ratePerSec);
    b.at = t;
    return b;
  }

  private sweep(t: number): void {
    const { ratePerSec, burst } = this.config();
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * ratePerSec >= burst) this.buckets.delete(k);
    }
  }
}
