// The limits every tool call passes (applied in lib/mcp/pool.ts callTool): a per-user rate limit (token
// bucket) and concurrency limit → 429 with details.retryAfterSec, and a circuit breaker per server origin.
//
// State is per process (in the process state, lib/state.ts, so every Next.js bundle shares it). With several
// app instances each enforces its own budget, so a user's effective rate is (instances × rate) at worst, and
// each instance's breaker learns a failing server on its own (N failures per instance before it opens).
// Sticky load balancing keeps both close to the configured values; a shared store (Redis) is the upgrade.
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import {
  CircuitBreakers,
  type BreakerConfig,
  type BreakerSnapshot,
  type Outcome,
} from "@/lib/limits/breaker";
import { ConcurrencyLimiter } from "@/lib/limits/concurrency";
import { TokenBuckets } from "@/lib/limits/rate-limit";
import { processState } from "@/lib/state";

export type LimitsConfig = {
  /** tool calls one user may have in flight at once */
  concurrentPerUser: number;
  /** sustained tool calls per second per user … */
  ratePerSec: number;
  /** … with bursts up to this many */
  burst: number;
  breaker: BreakerConfig;
  /**
   * A timeout counts as a server failure only when the caller allowed at least this long: a deadline the
   * caller chose to be tiny says nothing about the server, and must not let one user open the circuit
   * that every user of that server shares.
   */
  minCountedTimeoutMs: number;
};

export const DEFAULT_LIMITS: LimitsConfig = {
  concurrentPerUser: 20,
  ratePerSec: 10,
  burst: 50,
  breaker: { failureThreshold: 5, coolDownMs: 30_000, probeTimeoutMs: 5 * 60_000 },
  minCountedTimeoutMs: 5_000,
};

type State = {
  config: LimitsConfig;
  buckets: TokenBuckets;
  concurrency: ConcurrencyLimiter;
  breakers: CircuitBreakers;
};

/** The defaults with the per-user limits from the configuration (CALL_RATE_PER_SEC, CALL_BURST, CALL_CONCURRENCY). */
function configuredLimits(): LimitsConfig {
  const config = structuredClone(DEFAULT_LIMITS);
  try {
    const e = env();
    Object.assign(config, {
      ratePerSec: e.CALL_RATE_PER_SEC,
      burst: e.CALL_BURST,
      concurrentPerUser: e.CALL_CONCURRENCY,
    });
  } catch {
    /* configuration not loaded (tooling): defaults */
  }
  return config;
}

const state = processState<State>("callLimits", () => {
  const s = { config: configuredLimits() } as State;
  s.buckets = new TokenBuckets(() => s.config);
  s.concurrency = new ConcurrencyLimiter();
  s.breakers = new CircuitBreakers(() => s.config.breaker);
  return s;
});

export type LimitsPatch = Partial<Omit<LimitsConfig, "breaker">> & { breaker?: Partial<BreakerConfig> };

/** Changes limits at runtime (tests, benchmarks, or a launcher that reads its own configuration). */
export function configureLimits(patch: LimitsPatch): void {
  const { breaker, ...rest } = patch;
  Object.assign(state.config, rest);
  if (breaker) Object.assign(state.config.breaker, breaker);
}

/** Defaults back, every counter and circuit forgotten (tests). */
export function resetLimits(): void {
  state.config = structuredClone(DEFAULT_LIMITS);
  state.buckets.clear();
  state.concurrency.clear();
  state.breakers.clear();
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * Admits one tool call of `userId` or throws AppError 429 (details.retryAfterSec). The returned function
 * must be called when the call ends, however it ends.
 */
export function admitCall(userId: string): () => void {
  const { ratePerSec, burst, concurrentPerUser } = state.config;
  const rate = state.buckets.take(userId);
  if (!rate.ok) {
    const retryAfterSec = seconds(rate.retryAfterMs);
    throw new AppError(
      "too_many_calls",
      `Too many tool calls: at most ${ratePerSec} per second (bursts of ${burst}). Try again in ${retryAfterSec} s.`,
      429,
      { retryAfterSec, limit: "rate" },
    );
  }
  const release = state.concurrency.tryAcquire(userId, concurrentPerUser);
  if (!release) {
    throw new AppError(
      "too_many_concurrent_calls",
      `Too many tool calls at once: at most ${concurrentPerUser} may run at the same time. Try again when one finishes.`,
      429,
      { retryAfterSec: 1, limit: "concurrency" },
    );
  }
  return release;
}

/** Seconds until `userId` may call again, or undefined when a call would be admitted now (consumes nothing). */
export function rateLimitedFor(userId: string): number | undefined {
  const r = state.buckets.peek(userId);
  return r.ok ? undefined : seconds(r.retryAfterMs);
}

/** Calls of `userId` in flight right now. */
export function inflightCalls(userId: string): number {
  return state.concurrency.count(userId);
}

/**
 * The breaker key of a server: its origin. Tunnelled integrations all live under the app's own origin, so
 * there the whole URL is the key — one user's offline tunnel must not stop everybody else's.
 */
export function breakerKey(serverUrl: string): string {
  const url = new URL(serverUrl);
  let appOrigin: string | undefined;
  try {
    appOrigin = new URL(env().APP_URL).origin;
  } catch {
    appOrigin = undefined;
  }
  return url.origin === appOrigin ? `${url.origin}${url.pathname}` : url.origin;
}

export type PublicBreakerState = Omit<BreakerSnapshot, "lastFailure">;

/**
 * The breaker of the server behind `serverUrl`, for display. Without the last failure's text: the breaker
 * is shared by every user of that server, and another user's error may name their tools.
 */
export function breakerState(serverUrl: string): PublicBreakerState {
  const snap: BreakerSnapshot = state.breakers.snapshot(breakerKey(serverUrl));
  delete snap.lastFailure;
  return snap;
}

// Error codes (lib/net/egress.ts, lib/mcp/errors.ts, lib/mcp/pool.ts) that mean the server is down,
// unreachable or broken. Everything else the server answered (401, JSON-RPC errors, oversized results,
// isError results) shows it is alive.
const SERVER_FAILURES = new Set([
  "timeout",
  "connection_refused",
  "connection_reset",
  "connection_closed",
  "unreachable",
  "network_error",
  "dns_failed",
  "tls_error",
  "server_error",
  "tunnel_offline",
]);
// Outcomes decided on our side: they say nothing either way.
const NEUTRAL = new Set(["cancelled", "busy", "key_unreadable", "blocked_address", "bad_url"]);

export function classifyOutcome(err: unknown, timeoutMs: number): Outcome {
  if (!isAppError(err)) return "neutral";
  if (NEUTRAL.has(err.code)) return "neutral";
  if (!SERVER_FAILURES.has(err.code)) return "success";
  if (err.code === "timeout" && timeoutMs < state.config.minCountedTimeoutMs) return "neutral";
  return "failure";
}

/**
 * Runs `fn` (one call to the server behind `serverUrl`) under that server's breaker: fails fast with
 * AppError `circuit_open` (503, details.retryAfterSec) while it is open, and lets one probe through after
 * the cool-down.
 */
export async function withBreaker<T>(serverUrl: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const key = breakerKey(serverUrl);
  const admission = state.breakers.admit(key);
  if (!admission.ok) {
    const { snapshot } = admission;
    const retryAfterSec = seconds(admission.retryAfterMs);
    const host = new URL(serverUrl).host;
    // No failure text here: it may come from another user's call to the same server.
    throw new AppError(
      "circuit_open",
      `${host} failed ${snapshot.consecutiveFailures} times in a row (timeouts, connection errors or 5xx); calls to it are paused. Poke tries again in ${retryAfterSec} s.`,
      503,
      { retryAfterSec, state: snapshot.state, consecutiveFailures: snapshot.consecutiveFailures },
    );
  }
  try {
    const out = await fn();
    state.breakers.record(key, admission.probe, "success");
    return out;
  } catch (err) {
    const outcome = classifyOutcome(err, timeoutMs);
    state.breakers.record(key, admission.probe, outcome, isAppError(err) ? err.message : undefined);
    throw err;
  }
}
