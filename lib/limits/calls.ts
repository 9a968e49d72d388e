// The limits every tool call passes (applied in lib/mcp/pool.ts callTool): a per-user rate limit (token
// bucket) and concurrency limit → 429 with details.retryAfterSec, and circuit breakers (lib/limits/breaker.ts):
// one per user and server URL, one per origin that only failures of several users open → 503 circuit_open.
//
// Without REDIS_URL the state is per process (in the process state, lib/state.ts, so every Next.js bundle
// shares it). With it, every instance shares one budget per user and one set of breakers (lib/limits/shared.ts,
// docs/deploy.md); while Redis is down or slow (over a second), each instance falls back to its own state,
// with a warning in the log, and goes back to the shared state once Redis answers again.
import type { Redis } from "ioredis";
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import {
  CircuitBreakers,
  MemoryBreakerStore,
  type Admission,
  type BreakerConfig,
  type BreakerSnapshot,
  type BreakerTarget,
  type Outcome,
} from "@/lib/limits/breaker";
import { ConcurrencyLimiter } from "@/lib/limits/concurrency";
import { TokenBuckets } from "@/lib/limits/rate-limit";
import {
  deleteMatching,
  FailoverBreakerStore,
  RedisBreakerStore,
  SharedCallLimiter,
} from "@/lib/limits/shared";
import { attemptRedis, redis, redisKey } from "@/lib/redis";
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

type Shared = { client: Redis; limiter: SharedCallLimiter; breakers: CircuitBreakers };

type State = {
  config: LimitsConfig;
  buckets: TokenBuckets;
  /** this instance's calls in flight (with Redis: counted here too, enforced there) */
  concurrency: ConcurrencyLimiter;
  breakerStore: MemoryBreakerStore;
  breakers: CircuitBreakers;
  shared?: Shared;
  /** with Redis: until when (epoch ms) the shared bucket last refused each user, to shed at the door */
  refusedUntil: Map<string, number>;
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
  const s = { config: configuredLimits(), refusedUntil: new Map() } as State;
  s.buckets = new TokenBuckets(() => s.config);
  s.concurrency = new ConcurrencyLimiter();
  s.breakerStore = new MemoryBreakerStore();
  s.breakers = new CircuitBreakers(() => s.config.breaker, s.breakerStore);
  return s;
});

/** The shared limiter and breakers when REDIS_URL is set (made again if the connection was replaced). */
function shared(): Shared | undefined {
  const client = redis();
  if (!client) return undefined;
  if (state.shared?.client !== client) {
    state.shared?.limiter.stopRenewing();
    const attempt = <T>(fn: () => Promise<T>) => attemptRedis(client, "breakers", fn);
    state.shared = {
      client,
      limiter: new SharedCallLimiter(client, redisKey),
      breakers: new CircuitBreakers(
        () => state.config.breaker,
        new FailoverBreakerStore(new RedisBreakerStore(client, redisKey), state.breakerStore, attempt),
      ),
    };
  }
  return state.shared;
}

const breakers = () => shared()?.breakers ?? state.breakers;

/** Circuit breakers by state (metrics), when the breaker store can count them. */
export function breakerCounts() {
  return state.breakers.counts();
}

export type LimitsPatch = Partial<Omit<LimitsConfig, "breaker">> & { breaker?: Partial<BreakerConfig> };

/** Changes limits at runtime (tests, benchmarks, or a launcher that reads its own configuration). */
export function configureLimits(patch: LimitsPatch): void {
  const { breaker, ...rest } = patch;
  Object.assign(state.config, rest);
  if (breaker) Object.assign(state.config.breaker, breaker);
}

/** Defaults back, every counter and circuit forgotten (tests; with Redis, this deployment's shared ones too). */
export async function resetLimits(): Promise<void> {
  state.config = structuredClone(DEFAULT_LIMITS);
  state.buckets.clear();
  state.concurrency.clear();
  state.refusedUntil.clear();
  const s = shared();
  if (s) await deleteMatching(s.client, `${redisKey("limits", "")}*`);
  await breakers().clear();
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

function refused(limit: "rate" | "concurrency", retryAfterMs: number): AppError {
  const { ratePerSec, burst, concurrentPerUser } = state.config;
  if (limit === "rate") {
    const retryAfterSec = seconds(retryAfterMs);
    return new AppError(
      "too_many_calls",
      `Too many tool calls: at most ${ratePerSec} per second (bursts of ${burst}). Try again in ${retryAfterSec} s.`,
      429,
      { retryAfterSec, limit: "rate" },
    );
  }
  return new AppError(
    "too_many_concurrent_calls",
    `Too many tool calls at once: at most ${concurrentPerUser} may run at the same time. Try again when one finishes.`,
    429,
    { retryAfterSec: 1, limit: "concurrency" },
  );
}

/**
 * Admits one tool call of `userId` or throws AppError 429 (details.retryAfterSec). The returned function
 * must be called when the call ends, however it ends.
 */
export async function admitCall(userId: string): Promise<() => void> {
  const { ratePerSec, burst, concurrentPerUser } = state.config;
  const s = shared();
  if (s) {
    const limits = { ratePerSec, burst, maxConcurrent: concurrentPerUser };
    const a = await attemptRedis(s.client, "limits", () => s.limiter.admit(userId, limits));
    if (a) {
      if (!a.ok) {
        if (a.limit === "rate") state.refusedUntil.set(userId, Date.now() + a.retryAfterMs);
        throw refused(a.limit, a.retryAfterMs);
      }
      // Took the last token: the next call anywhere is refused until the refill, so shed it at the door.
      if (a.nextTokenInMs > 0) state.refusedUntil.set(userId, Date.now() + a.nextTokenInMs);
      else state.refusedUntil.delete(userId);
      const counted = state.concurrency.tryAcquire(userId, Number.MAX_SAFE_INTEGER)!;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        counted();
        // Not released (Redis down): the lease expires on its own, as a dead instance's do.
        void attemptRedis(s.client, "limits", () => s.limiter.release(userId, a.lease));
      };
    }
    // Redis down: this instance's own limits below.
  }
  const rate = state.buckets.take(userId);
  if (!rate.ok) throw refused("rate", rate.retryAfterMs);
  const release = state.concurrency.tryAcquire(userId, concurrentPerUser);
  if (!release) throw refused("concurrency", 1000);
  return release;
}

/**
 * Seconds until `userId` may call again, or undefined when a call would be admitted now (consumes nothing).
 * With Redis: from what the shared budget last answered this instance (the call itself is always checked
 * there): after this instance took the user's last token or was refused one; a budget spent only through
 * other instances is refused by the call itself (a tool error naming the limit), then here.
 */
export function rateLimitedFor(userId: string): number | undefined {
  if (shared()) {
    const until = state.refusedUntil.get(userId);
    if (until === undefined) return undefined;
    const left = until - Date.now();
    if (left > 0) return seconds(left);
    state.refusedUntil.delete(userId);
    return undefined;
  }
  const r = state.buckets.peek(userId);
  return r.ok ? undefined : seconds(r.retryAfterMs);
}

/** Calls of `userId` in flight right now on this instance. */
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
  const { server, origin } = await breakers().snapshot(breakerTarget(userId, serverUrl));
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
  const b = breakers();
  const admission = await b.admit(target);
  if (!admission.ok) throw circuitOpen(serverUrl, admission);
  try {
    const out = await fn();
    await b.record(target, admission, "success");
    return out;
  } catch (err) {
    const outcome = classifyOutcome(err, timeoutMs);
    await b.record(target, admission, outcome, isAppError(err) ? err.message : undefined);
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
