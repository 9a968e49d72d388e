// The limits every tool call passes (applied in lib/mcp/pool.ts callTool): a per-user rate limit (token
// bucket) and concurrency limit → 429 with details.retryAfterSec, and circuit breakers (lib/limits/breaker.ts):
// one per user and server URL, one per origin that only failures of several users open → 503 circuit_open.
//
// State is per process (in the process state, lib/state.ts, so every Next.js bundle shares it). With several
// app instances each enforces its own budget, so a user's effective rate is (instances × rate) at worst, and
// each instance's breakers learn a failing server on their own (N failures per instance before one opens).
// Sticky load balancing keeps both close to the configured values; a shared store (Redis) is the upgrade:
// the breakers already keep their state behind BreakerStore.
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import {
  CircuitBreakers,
  type Admission,
  type BreakerConfig,
  type BreakerSnapshot,
  type BreakerTarget,
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
   * caller chose to be tiny says nothing about the server, and must not count towards its origin's circuit.
   */
  minCountedTimeoutMs: number;
};

export const DEFAULT_LIMITS: LimitsConfig = {
  concurrentPerUser: 20,
  ratePerSec: 10,
  burst: 50,
  breaker: {
    failureThreshold: 5,
    coolDownMs: 30_000,
    probeTimeoutMs: 5 * 60_000,
    originUsers: 3,
    originWindowMs: 60_000,
  },
  minCountedTimeoutMs: 5_000,
};

type State = {
  config: LimitsConfig;
  buckets: TokenBuckets;
  concurrency: ConcurrencyLimiter;
  breakers: CircuitBreakers;
};

/** The defaults with the limits from the configuration (CALL_RATE_PER_SEC, CALL_BURST, CALL_CONCURRENCY, BREAKER_*). */
function configuredLimits(): LimitsConfig {
  const config = structuredClone(DEFAULT_LIMITS);
  try {
    const e = env();
    Object.assign(config, {
      ratePerSec: e.CALL_RATE_PER_SEC,
      burst: e.CALL_BURST,
      concurrentPerUser: e.CALL_CONCURRENCY,
    });
    Object.assign(config.breaker, {
      failureThreshold: e.BREAKER_FAILURES,
      coolDownMs: e.BREAKER_COOLDOWN_SEC * 1000,
      originUsers: e.BREAKER_ORIGIN_USERS,
      originWindowMs: e.BREAKER_ORIGIN_WINDOW_SEC * 1000,
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
  void state.breakers.clear();
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
 * The circuits a call of `userId` to `serverUrl` passes: the user's own for that URL, and the origin's.
 * Tunnelled integrations all live under the app's own origin, which has no origin circuit: each tunnel is
 * one user's own server.
 */
function breakerTarget(userId: string, serverUrl: string): BreakerTarget {
  const url = new URL(serverUrl);
  let appOrigin: string | undefined;
  try {
    appOrigin = new URL(env().APP_URL).origin;
  } catch {
    appOrigin = undefined;
  }
  const server = `${url.origin}${url.pathname}${url.search}`;
  return url.origin === appOrigin ? { user: userId, server } : { user: userId, server, origin: url.origin };
}

export type PublicBreakerState = Omit<BreakerSnapshot, "lastFailure"> & {
  /** which circuit this is: the user's own for the server, or the whole origin's (several users failing) */
  scope: "server" | "origin";
};

/**
 * The circuit that decides `userId`'s next call to `serverUrl`, for display: the user's own unless the
 * origin's is not closed. Without failure text (the origin's comes from several users' calls).
 */
export async function breakerState(userId: string, serverUrl: string): Promise<PublicBreakerState> {
  const { server, origin } = await state.breakers.snapshot(breakerTarget(userId, serverUrl));
  const [snap, scope] =
    server.state === "closed" && origin && origin.state !== "closed"
      ? [origin, "origin" as const]
      : [server, "server" as const];
  delete snap.lastFailure;
  return { ...snap, scope };
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
 * Runs `fn` (one call of `userId` to the server behind `serverUrl`) under the user's circuit for that server
 * and the origin's: fails fast with AppError `circuit_open` (503, details.retryAfterSec) while either is open,
 * and lets one probe through after the cool-down.
 */
export async function withBreaker<T>(
  userId: string,
  serverUrl: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const target = breakerTarget(userId, serverUrl);
  const admission = await state.breakers.admit(target);
  if (!admission.ok) throw circuitOpen(serverUrl, admission);
  try {
    const out = await fn();
    await state.breakers.record(target, admission, "success");
    return out;
  } catch (err) {
    const outcome = classifyOutcome(err, timeoutMs);
    await state.breakers.record(target, admission, outcome, isAppError(err) ? err.message : undefined);
    throw err;
  }
}

function circuitOpen(serverUrl: string, refused: Extract<Admission, { ok: false }>): AppError {
  const { snapshot, scope } = refused;
  const retryAfterSec = seconds(refused.retryAfterMs);
  const url = new URL(serverUrl);
  const details = {
    retryAfterSec,
    state: snapshot.state,
    consecutiveFailures: snapshot.consecutiveFailures,
    scope,
  };
  if (scope === "origin") {
    // No failure text: it comes from other users' calls.
    return new AppError(
      "circuit_open",
      `${url.host} is failing for several users at once (timeouts, connection errors or 5xx); calls to it are paused. Poke tries again in ${retryAfterSec} s.`,
      503,
      details,
    );
  }
  return new AppError(
    "circuit_open",
    `${url.host}${url.pathname} failed ${snapshot.consecutiveFailures} times in a row (timeouts, connection errors or 5xx); calls to it are paused. Poke tries again in ${retryAfterSec} s.`,
    503,
    details,
  );
}
