// Circuit breakers for tool calls (docs/security.md §21), two per call:
//
// - one per user and server URL: closed → open after N consecutive failures of that user's calls → half-open
//   after a cool-down, where exactly one probe call goes through → closed on its success, open again on its
//   failure. It is the user's own: another user's failures never touch it.
// - one per server origin, opened only by a storm: failures of at least `originUsers` distinct users within
//   `originWindowMs`, with no call to the origin succeeding in between. Then every call to the origin fails
//   fast until a probe (anyone's call) succeeds. One user — however many servers they point at one origin —
//   can never open it for everybody else.
//
// Only failures that say something about the server's health count (timeouts, connection errors, 5xx); the
// caller classifies outcomes. The state machine is pure functions over plain JSON entries; where the entries
// live is a BreakerStore (in process by default; a store shared by several instances only has to apply one
// update per key atomically).

export type BreakerConfig = {
  /** consecutive failures of one user's calls to one server URL that open that user's circuit */
  failureThreshold: number;
  /** how long an open circuit fails fast before one probe is let through */
  coolDownMs: number;
  /** a probe that never reports back (should not happen) frees the slot after this long */
  probeTimeoutMs: number;
  /** distinct users whose failures open the circuit of a whole origin (0: no origin circuit) */
  originUsers: number;
  /** … when they all failed within this long */
  originWindowMs: number;
};

export type BreakerState = "closed" | "open" | "half_open";
export type Outcome = "success" | "failure" | "neutral";

/** One circuit as stored: plain JSON, so any store can keep it. */
export type BreakerEntry = {
  state: BreakerState;
  /** per server: consecutive failures; per origin: failures since it was last closed */
  failures: number;
  /** epoch ms */
  openedAt?: number;
  /** epoch ms when the next probe may go (open) */
  retryAt?: number;
  probeStartedAt?: number;
  lastFailure?: string;
  lastFailureAt?: number;
  /** per origin, while closed: each failing user's last failure (epoch ms) within the window */
  users?: Record<string, number>;
};

export type BreakerSnapshot = {
  state: BreakerState;
  consecutiveFailures: number;
  openedAt?: number;
  retryAt?: number;
  lastFailure?: string;
  lastFailureAt?: number;
};

/** Where breaker entries live. */
export interface BreakerStore {
  /**
   * Runs `fn` on the entry under `key` (undefined when there is none) and stores the entry it returns
   * (undefined deletes it), as one atomic step per key; returns fn's result.
   */
  update<T>(key: string, fn: (entry: BreakerEntry | undefined) => [BreakerEntry | undefined, T]): Promise<T>;
  read(key: string): Promise<BreakerEntry | undefined>;
  clear(): Promise<void>;
  /** Entries by state, for metrics (a store that can't count cheaply leaves it out). */
  counts?(): Promise<Record<BreakerState, number>>;
}

/**
 * The in-process store: a Map, bounded by dropping the oldest entries that pause nothing: closed ones (a few
 * failures) and open ones whose cool-down is over (the next call would be a probe; without the entry it is a
 * plain call).
 */
export class MemoryBreakerStore implements BreakerStore {
  private readonly entries = new Map<string, BreakerEntry>();
  constructor(private readonly maxEntries = 100_000) {}

  async update<T>(key: string, fn: (e: BreakerEntry | undefined) => [BreakerEntry | undefined, T]) {
    const [next, result] = fn(this.entries.get(key));
    this.entries.delete(key); // re-inserted last: Map order is the age order eviction walks
    if (next) {
      this.entries.set(key, next);
      if (this.entries.size > this.maxEntries) this.evict();
    }
    return result;
  }

  async read(key: string) {
    return this.entries.get(key);
  }

  async clear() {
    this.entries.clear();
  }

  async counts() {
    const out: Record<BreakerState, number> = { closed: 0, open: 0, half_open: 0 };
    for (const e of this.entries.values()) out[e.state]++;
    return out;
  }

  private evict(): void {
    const now = Date.now();
    for (const [key, e] of this.entries) {
      if (this.entries.size <= this.maxEntries * 0.9) return;
      if (e.state === "closed" || (e.state === "open" && (e.retryAt ?? 0) <= now)) this.entries.delete(key);
    }
  }
}

/** What is asked: one user's call to one server URL, and that server's origin (none: no origin circuit). */
export type BreakerTarget = { user: string; server: string; origin?: string };

export type Admission =
  | { ok: true; probe: boolean; originProbe: boolean }
  | { ok: false; scope: "server" | "origin"; retryAfterMs: number; snapshot: BreakerSnapshot };

type Admit = { ok: true; probe: boolean } | { ok: false; retryAfterMs: number; snapshot: BreakerSnapshot };

export class CircuitBreakers {
  constructor(
    private readonly config: () => BreakerConfig,
    private readonly store: BreakerStore = new MemoryBreakerStore(),
    private readonly now: () => number = Date.now,
  ) {}

  /** Entries by state (metrics), when the store can count them. */
  counts(): Promise<Record<BreakerState, number>> | undefined {
    return this.store.counts?.();
  }

  /** Admits a call (first the user's circuit, then the origin's) or says which circuit refuses it and for how long. */
  async admit(t: BreakerTarget): Promise<Admission> {
    const cfg = this.config();
    const now = this.now();
    const own = await this.store.update(serverKey(t), (e) => admitEntry(e, now, cfg));
    if (!own.ok) return { ...own, scope: "server" };
    if (!this.hasOrigin(t, cfg)) return { ok: true, probe: own.probe, originProbe: false };
    const origin = await this.store.update(originKey(t), (e) => admitEntry(e, now, cfg));
    if (origin.ok) return { ok: true, probe: own.probe, originProbe: origin.probe };
    // The call never goes out: a probe slot it took on the user's circuit is freed.
    if (own.probe) await this.store.update(serverKey(t), (e) => recordServer(e, true, "neutral", now, cfg));
    return { ...origin, scope: "origin" };
  }

  /** Records how an admitted call ended, on both circuits. */
  async record(
    t: BreakerTarget,
    a: { probe: boolean; originProbe: boolean },
    outcome: Outcome,
    failure?: string,
  ) {
    const cfg = this.config();
    const now = this.now();
    const text = failure?.slice(0, 300);
    await this.store.update(serverKey(t), (e) => recordServer(e, a.probe, outcome, now, cfg, text));
    if (this.hasOrigin(t, cfg)) {
      await this.store.update(originKey(t), (e) => recordOrigin(e, t.user, a.originProbe, outcome, now, cfg));
    }
  }

  /** The user's circuit for the server, and the origin's. */
  async snapshot(t: BreakerTarget): Promise<{ server: BreakerSnapshot; origin?: BreakerSnapshot }> {
    const cfg = this.config();
    const server = view(await this.store.read(serverKey(t)));
    return this.hasOrigin(t, cfg)
      ? { server, origin: view(await this.store.read(originKey(t))) }
      : { server };
  }

  clear(): Promise<void> {
    return this.store.clear();
  }

  private hasOrigin(t: BreakerTarget, cfg: BreakerConfig): t is BreakerTarget & { origin: string } {
    return t.origin !== undefined && cfg.originUsers > 0;
  }
}

const serverKey = (t: BreakerTarget) => `server\u0000${t.user}\u0000${t.server}`;
const originKey = (t: BreakerTarget) => `origin\u0000${t.origin}`;

// ---------------------------------------------------------------------------------------------------------
// The state machine: pure functions from (entry, event) to (entry, answer).

function admitEntry(
  e: BreakerEntry | undefined,
  now: number,
  cfg: BreakerConfig,
): [BreakerEntry | undefined, Admit] {
  if (!e || e.state === "closed") return [e, { ok: true, probe: false }];
  if (e.state === "open") {
    const retryAt = e.retryAt ?? now;
    if (now < retryAt) return [e, { ok: false, retryAfterMs: retryAt - now, snapshot: view(e) }];
    return [
      { ...e, state: "half_open", retryAt: undefined, probeStartedAt: now },
      { ok: true, probe: true },
    ];
  }
  // half-open: one probe at a time; the others keep failing fast until it reports.
  const stuck = e.probeStartedAt !== undefined && now - e.probeStartedAt > cfg.probeTimeoutMs;
  if (e.probeStartedAt === undefined || stuck)
    return [
      { ...e, probeStartedAt: now },
      { ok: true, probe: true },
    ];
  return [e, { ok: false, retryAfterMs: 1000, snapshot: view(e) }];
}

function open(e: BreakerEntry, now: number, cfg: BreakerConfig): BreakerEntry {
  return { ...e, state: "open", openedAt: now, retryAt: now + cfg.coolDownMs, probeStartedAt: undefined };
}

function recordServer(
  e: BreakerEntry | undefined,
  probe: boolean,
  outcome: Outcome,
  now: number,
  cfg: BreakerConfig,
  failure?: string,
): [BreakerEntry | undefined, void] {
  if (outcome === "neutral") {
    return [probe && e?.state === "half_open" ? { ...e, probeStartedAt: undefined } : e, undefined];
  }
  if (outcome === "success") {
    // A late success of a call admitted before the circuit opened proves little; only probes close it.
    return [!e || e.state === "closed" || probe ? undefined : e, undefined];
  }
  const next: BreakerEntry = {
    ...(e ?? { state: "closed", failures: 0 }),
    lastFailure: failure,
    lastFailureAt: now,
  };
  next.failures++;
  const opens =
    (next.state === "closed" && next.failures >= cfg.failureThreshold) ||
    (probe && next.state === "half_open");
  return [opens ? open(next, now, cfg) : next, undefined];
}

function recordOrigin(
  e: BreakerEntry | undefined,
  user: string,
  probe: boolean,
  outcome: Outcome,
  now: number,
  cfg: BreakerConfig,
): [BreakerEntry | undefined, void] {
  if (outcome === "neutral") {
    return [probe && e?.state === "half_open" ? { ...e, probeStartedAt: undefined } : e, undefined];
  }
  if (outcome === "success") {
    // Anyone's success shows the origin serving: the storm count starts over (a probe's closes the circuit).
    return [!e || e.state === "closed" || probe ? undefined : e, undefined];
  }
  const base = e ?? { state: "closed" as const, failures: 0 };
  if (base.state !== "closed") {
    // Open or probing: only the probe's failure says more (it opens the circuit again).
    const next = { ...base, failures: base.failures + 1, lastFailureAt: now };
    return [probe && base.state === "half_open" ? open(next, now, cfg) : next, undefined];
  }
  // Closed: remember who failed when, within the window; enough distinct users open it.
  const users: Record<string, number> = { [user]: now };
  for (const [u, at] of Object.entries(base.users ?? {})) {
    if (u !== user && now - at < cfg.originWindowMs) users[u] = at;
  }
  const next: BreakerEntry = { state: "closed", failures: base.failures + 1, lastFailureAt: now, users };
  if (Object.keys(users).length < cfg.originUsers) return [next, undefined];
  return [open({ ...next, users: undefined }, now, cfg), undefined];
}

function view(e: BreakerEntry | undefined): BreakerSnapshot {
  if (!e) return { state: "closed", consecutiveFailures: 0 };
  return {
    state: e.state,
    consecutiveFailures: e.failures,
    ...(e.openedAt !== undefined && e.state !== "closed" ? { openedAt: e.openedAt } : {}),
    ...(e.retryAt !== undefined && e.state === "open" ? { retryAt: e.retryAt } : {}),
    ...(e.lastFailure !== undefined ? { lastFailure: e.lastFailure } : {}),
    ...(e.lastFailureAt !== undefined ? { lastFailureAt: e.lastFailureAt } : {}),
  };
}
