// Health of one integration over the last 24 h: success rate, latency percentiles, last error, and the state
// of the circuit breaker of its server. Data comes from getIntegrationHealth (lib/agent/activity.ts).
import { Badge } from "@/components/ui";
import type { IntegrationHealth } from "@/lib/agent/activity";

const BREAKER = {
  closed: { label: "closed", tone: "green", hint: "Calls go through normally." },
  open: {
    label: "open",
    tone: "red",
    hint: "The server kept failing; calls fail fast until the next probe.",
  },
  half_open: {
    label: "probing",
    tone: "amber",
    hint: "One trial call is testing whether the server recovered.",
  },
} as const;

export function formatRate(rate: number | null): string {
  return rate === null ? "—" : `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)}%`;
}

export const formatMs = (ms: number | null) => (ms === null ? "—" : `${ms} ms`);

export function BreakerBadge({ breaker }: { breaker: IntegrationHealth["breaker"] }) {
  const b = BREAKER[breaker.state];
  const retry =
    breaker.state === "open" && breaker.retryAt
      ? ` Next probe after ${new Date(breaker.retryAt).toISOString().slice(11, 19)} UTC.`
      : "";
  // The origin's circuit opens only when calls of several users to the server's host fail.
  const scope = breaker.scope === "origin" && breaker.state !== "closed" ? " (its whole host)" : "";
  return (
    <span data-testid="breaker-state" title={`${b.hint}${retry}`}>
      <Badge tone={b.tone}>
        circuit {b.label}
        {scope}
      </Badge>
    </span>
  );
}

export function HealthPanel({ health }: { health: IntegrationHealth }) {
  const h = health;
  const stats: [string, string][] = [
    ["Calls (24 h)", String(h.calls)],
    ["Success rate", formatRate(h.successRate)],
    ["p50 latency", formatMs(h.p50Ms)],
    ["p95 latency", formatMs(h.p95Ms)],
  ];
  return (
    <div data-testid="health-panel" className="space-y-3 text-sm">
      <dl className="grid grid-cols-2 gap-3 sm:grid-cols-4">
        {stats.map(([label, value]) => (
          <div key={label} className="rounded-md border border-zinc-200 px-3 py-2">
            <dt className="text-xs text-zinc-500">{label}</dt>
            <dd className="font-medium" data-testid={`health-${label.split(" ")[0].toLowerCase()}`}>
              {value}
            </dd>
          </div>
        ))}
      </dl>
      <div className="flex flex-wrap items-center gap-3 text-xs text-zinc-600">
        <BreakerBadge breaker={h.breaker} />
        <span>
          {h.ok} ok · {h.toolErrors} tool errors · {h.failures} failed · {h.rejected} refused
        </span>
      </div>
      {h.lastError && (
        <p className="text-xs text-zinc-600">
          Last error ({h.lastError.at.toISOString().replace("T", " ").slice(0, 16)} UTC):{" "}
          <span className="text-red-700" data-testid="health-last-error">
            {h.lastError.message}
          </span>
        </p>
      )}
    </div>
  );
}
