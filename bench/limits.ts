// Benchmarks measure the call path, not the per-user rate limit (the app under test gets CALL_RATE_PER_SEC).
export async function liftCallRateLimit(): Promise<void> {
  const limits = await import("@/lib/limits/calls").catch(() => undefined);
  limits?.configureLimits({ ratePerSec: 1_000_000, burst: 1_000_000 });
}
