// Circuit breakers keyed by server (origin): closed → open after N consecutive failures → half-open after a
// cool-down, where exactly one probe call goes through → closed on its success, open again on its failure.
// Only failures that say something about the server's health count (timeouts, connection errors, 5xx);
// the caller classifies outcomes. In-process state: each app instance learns on its own.

export type BreakerConfig = {
  /** consecutive failures that open the circuit */
  failureThreshold: number;
  /** how long an open circuit fails fast before one probe is let through */
  coolDownMs: number;
  /** a probe that never reports back (should not happen) frees the slot after this long */
  probeTimeoutMs: number;
};

export type BreakerState = "closed" | "open" | "half_open";

export type BreakerSnapshot = {
  state: BreakerState;
  consecutiveFailures: number;
  /** epoch ms */
  openedAt?: number;
  /** epoch ms when the next probe may go (open) */
  retryAt?: number;
  lastFailure?: string;
  lastFailureAt?: number;
};

export type Admission =
  { ok: true; probe: boolean } | { ok: false; retryAfterMs: number; snapshot: BreakerSnapshot };
export type Outcome = "success" | "failure" | "neutral";

type Entry = Omit<BreakerSnapshot, "consecutiveFailures"> & { failures: number; probeStartedAt?: number };

export class CircuitBreakers {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly config: () => BreakerConfig,
    private readonly now: () => number = Date.now,
  ) {}

  admit(key: string): Admission {
    const e = this.entries.get(key);
    if (!e || e.state === "closed") return { ok: true, probe: false };
    const t = this.now();
    if (e.state === "open") {
      if (t < (e.retryAt ?? 0))
        return { ok: false, retryAfterMs: (e.retryAt ?? t) - t, snapshot: this.view(e) };
      e.state = "half_open";
      e.probeStartedAt = t;
      return { ok: true, probe: true };
    }
    // half-open: one probe at a time; the others keep failing fast until it reports.
    const stuck = e.probeStartedAt !== undefined && t - e.probeStartedAt > this.config().probeTimeoutMs;
    if (e.probeStartedAt === undefined || stuck) {
      e.probeStartedAt = t;
      return { ok: true, probe: true };
    }
    return { ok: false, retryAfterMs: 1000, snapshot: this.view(e) };
  }

  record(key: string, probe: boolean, outcome: Outcome, failure?: string): void {
    const t = this.now();
    const e = this.entries.get(key);
    if (outcome === "neutral") {
      if (probe && e?.state === "half_open") e.probeStartedAt = undefined;
      return;
    }
    if (outcome === "success") {
      // A late success of a call admitted before the circuit opened proves little; only probes close it.
      if (!e || e.state === "closed" || probe) this.entries.delete(key);
      return;
    }
    const entry = e ?? { state: "closed" as BreakerState, failures: 0 };
    entry.failures++;
    entry.lastFailure = failure?.slice(0, 300);
    entry.lastFailureAt = t;
    const { failureThreshold, coolDownMs } = this.config();
    if (
      (entry.state === "closed" && entry.failures >= failureThreshold) ||
      (probe && entry.state === "half_open")
    ) {
      entry.state = "open";
      entry.openedAt = t;
      entry.retryAt = t + coolDownMs;
      entry.probeStartedAt = undefined;
    }
    this.entries.set(key, entry);
  }

  snapshot(key: string): BreakerSnapshot {
    const e = this.entries.get(key);
    return e ? this.view(e) : { state: "closed", consecutiveFailures: 0 };
  }

  clear(): void {
    this.entries.clear();
  }

  private view(e: Entry): BreakerSnapshot {
    return {
      state: e.state,
      consecutiveFailures: e.failures,
      ...(e.openedAt !== undefined && e.state !== "closed" ? { openedAt: e.openedAt } : {}),
      ...(e.retryAt !== undefined && e.state === "open" ? { retryAt: e.retryAt } : {}),
      ...(e.lastFailure !== undefined ? { lastFailure: e.lastFailure } : {}),
      ...(e.lastFailureAt !== undefined ? { lastFailureAt: e.lastFailureAt } : {}),
    };
  }
}
