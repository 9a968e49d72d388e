// Counts in-flight work per key and refuses more than `max` at once (no queueing: a caller that waits
// in a queue behind a hanging server would be slowed by it, docs/security.md §24).

export class ConcurrencyLimiter {
  private readonly inflight = new Map<string, number>();

  /** A release function (idempotent), or null when `key` already has `max` calls in flight. */
  tryAcquire(key: string, max: number): (() => void) | null {
    const n = this.inflight.get(key) ?? 0;
    if (n >= max) return null;
    this.inflight.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inflight.get(key) ?? 1) - 1;
      if (left <= 0) this.inflight.delete(key);
      else this.inflight.set(key, left);
    };
  }

  count(key: string): number {
    return this.inflight.get(key) ?? 0;
  }

  clear(): void {
    this.inflight.clear();
  }
}
