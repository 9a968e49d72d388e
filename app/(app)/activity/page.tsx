import type { Metadata } from "next";
import Link from "next/link";
import { BreakerBadge, formatMs, formatRate } from "@/components/health-panel";
import { PayloadToggle } from "@/components/payload-toggle";
import { Badge, Button, Card, formatDate } from "@/components/ui";
import { CALL_SOURCES, CALL_STATUSES, listActivity, listIntegrationHealth } from "@/lib/agent/activity";
import { requireUser } from "@/lib/auth/session";
import { listApiTokenNames } from "@/lib/data/api-tokens";
import { listToolsets } from "@/lib/data/toolsets";
import { isAppError } from "@/lib/errors";

export const metadata: Metadata = { title: "Activity" };

const STATUS_TONE = {
  ok: "green",
  tool_error: "amber",
  error: "red",
  timeout: "red",
  rejected: "zinc",
} as const;
const STATUS_LABEL: Record<string, string> = {
  ok: "ok",
  tool_error: "tool error",
  error: "error",
  timeout: "timeout",
  rejected: "refused",
};

type Search = {
  integration?: string;
  status?: string;
  source?: string;
  toolset?: string;
  token?: string;
  cursor?: string;
};
const FILTERS = ["integration", "status", "source", "toolset", "token"] as const;

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) || undefined;

function Json({ value }: { value: unknown }) {
  return (
    <pre className="max-h-60 overflow-auto rounded bg-zinc-50 p-2 text-xs">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export default async function ActivityPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const user = await requireUser("/activity");
  const sp = await searchParams;
  const q: Search = {
    integration: one(sp.integration),
    status: one(sp.status),
    source: one(sp.source),
    toolset: one(sp.toolset),
    token: one(sp.token),
    cursor: one(sp.cursor),
  };
  const [health, toolsets, tokens] = await Promise.all([
    listIntegrationHealth(user),
    listToolsets(user),
    listApiTokenNames(user),
  ]);
  let page: Awaited<ReturnType<typeof listActivity>>;
  try {
    page = await listActivity(user, {
      integrationId: q.integration,
      status: q.status,
      source: q.source,
      toolsetId: q.toolset,
      apiTokenId: q.token,
      cursor: q.cursor,
    });
  } catch (e) {
    if (!isAppError(e)) throw e;
    page = { calls: [] }; // a mangled cursor shows an empty page, not an error page
  }
  const filtered = FILTERS.some((f) => q[f]);
  const older = page.nextCursor
    ? `/activity?${new URLSearchParams([
        ...FILTERS.flatMap((f) => (q[f] ? [[f, q[f]]] : [])),
        ["cursor", page.nextCursor],
      ])}`
    : undefined;

  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Activity</h1>

      <Card title="Integration health (last 24 hours)">
        {health.length === 0 ? (
          <p className="text-sm text-zinc-500">
            No integrations yet. <Link href="/integrations">Add one</Link>.
          </p>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <thead className="text-xs uppercase text-zinc-500">
                <tr>
                  <th className="py-2">Integration</th>
                  <th>Calls</th>
                  <th>Success</th>
                  <th>p50</th>
                  <th>p95</th>
                  <th>Server</th>
                  <th>Last error</th>
                  <th>Payloads</th>
                </tr>
              </thead>
              <tbody>
                {health.map((h) => (
                  <tr
                    key={h.integrationId}
                    className="border-t border-zinc-100 align-top"
                    data-testid="health-row"
                  >
                    <td className="py-2 font-medium">
                      <Link href={`/integrations/${h.integrationId}`} className="hover:underline">
                        {h.name}
                      </Link>
                    </td>
                    <td>{h.calls}</td>
                    <td data-testid="health-success">{formatRate(h.successRate)}</td>
                    <td>{formatMs(h.p50Ms)}</td>
                    <td>{formatMs(h.p95Ms)}</td>
                    <td>
                      <BreakerBadge breaker={h.breaker} />
                    </td>
                    <td className="max-w-xs break-words text-xs text-red-700">
                      {h.lastError?.message ?? ""}
                    </td>
                    <td>
                      <PayloadToggle id={h.integrationId} name={h.name} enabled={h.storePayloads} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p className="mt-3 text-xs text-zinc-500">
          Success is the share of calls that returned a result without error (refused calls left out).
          Arguments and results are kept only for integrations with “store payloads” on, with secrets redacted
          and large values cut.
        </p>
      </Card>

      <Card title="Tool calls">
        {/* keyed by the filters: a client-side navigation (Clear) must reset the uncontrolled selects */}
        <form
          key={FILTERS.map((f) => q[f]).join("|")}
          method="get"
          className="mb-4 flex flex-wrap items-end gap-3 text-sm"
          aria-label="Filter calls"
        >
          <label className="block">
            <span className="font-medium text-zinc-800">Integration</span>
            <select
              name="integration"
              defaultValue={q.integration ?? ""}
              className="mt-1 block rounded-md border border-zinc-300 bg-white px-2 py-1.5"
            >
              <option value="">All integrations</option>
              {health.map((h) => (
                <option key={h.integrationId} value={h.integrationId}>
                  {h.name}
                </option>
              ))}
            </select>
          </label>
          <label className="block">
            <span className="font-medium text-zinc-800">Status</span>
            <select
              name="status"
              defaultValue={q.status ?? ""}
              className="mt-1 block rounded-md border border-zinc-300 bg-white px-2 py-1.5"
            >
              <option value="">Any status</option>
              {CALL_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {STATUS_LABEL[s]}
                </option>
              ))}
            </select>
          </label>
          <label className="block">
            <span className="font-medium text-zinc-800">Source</span>
            <select
              name="source"
              defaultValue={q.source ?? ""}
              className="mt-1 block rounded-md border border-zinc-300 bg-white px-2 py-1.5"
            >
              <option value="">Any source</option>
              {CALL_SOURCES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label className="block">
            <span className="font-medium text-zinc-800">Toolset</span>
            <select
              name="toolset"
              defaultValue={q.toolset ?? ""}
              className="mt-1 block max-w-[14rem] rounded-md border border-zinc-300 bg-white px-2 py-1.5"
            >
              <option value="">Any toolset</option>
              {toolsets.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
          <label className="block">
            <span className="font-medium text-zinc-800">Token</span>
            <select
              name="token"
              defaultValue={q.token ?? ""}
              className="mt-1 block max-w-[14rem] rounded-md border border-zinc-300 bg-white px-2 py-1.5"
            >
              <option value="">Any token</option>
              {tokens.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name} ({t.prefix}…){t.revokedAt ? " — revoked" : ""}
                </option>
              ))}
            </select>
          </label>
          <Button type="submit" variant="secondary">
            Apply filters
          </Button>
          {filtered && (
            <Link href="/activity" className="py-1.5 text-zinc-600 hover:underline">
              Clear
            </Link>
          )}
        </form>

        <div className="overflow-x-auto">
          <table className="w-full text-left text-sm">
            <thead className="text-xs uppercase text-zinc-500">
              <tr>
                <th className="py-2">Time</th>
                <th>Integration</th>
                <th>Tool</th>
                <th>Source / via</th>
                <th>Status</th>
                <th className="text-right">Latency</th>
              </tr>
            </thead>
            <tbody>
              {page.calls.length === 0 && (
                <tr>
                  <td colSpan={6} className="py-4 text-zinc-500">
                    {filtered ? "No calls match these filters." : "No tool calls yet."}
                  </td>
                </tr>
              )}
              {page.calls.map((c) => (
                <tr key={c.id} className="border-t border-zinc-100 align-top" data-testid="call-row">
                  <td className="whitespace-nowrap py-2">{formatDate(c.at)}</td>
                  <td>{c.integrationName}</td>
                  <td>
                    <code>{c.tool}</code>
                    {c.error && <p className="mt-1 max-w-md break-words text-xs text-red-700">{c.error}</p>}
                    {(c.arguments != null || c.result != null) && (
                      <details className="mt-1 text-xs">
                        <summary className="cursor-pointer text-zinc-600">Payload</summary>
                        {c.arguments != null && <Json value={c.arguments} />}
                        {c.result != null && <Json value={c.result} />}
                      </details>
                    )}
                  </td>
                  <td>
                    {c.source}
                    {c.toolsetName && (
                      <span className="block text-xs text-zinc-600" data-testid="call-toolset">
                        toolset <strong className="break-all">{c.toolsetName}</strong>
                      </span>
                    )}
                    {c.apiTokenName && (
                      <span className="block text-xs text-zinc-600" data-testid="call-token">
                        token <strong className="break-all">{c.apiTokenName}</strong>
                      </span>
                    )}
                  </td>
                  <td data-testid="call-status">
                    <Badge tone={STATUS_TONE[c.status as keyof typeof STATUS_TONE] ?? "zinc"}>
                      {STATUS_LABEL[c.status] ?? c.status}
                    </Badge>
                  </td>
                  <td className="text-right tabular-nums">{c.latencyMs} ms</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {older && (
          <div className="mt-4 text-sm">
            <Link href={older} className="text-zinc-700 hover:underline">
              Older calls →
            </Link>
          </div>
        )}
      </Card>
    </div>
  );
}
