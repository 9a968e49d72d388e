import type { Metadata } from "next";
import Link from "next/link";
import { BreakerBadge, formatMs, formatRate } from "@/components/health-panel";
import { PayloadToggle } from "@/components/payload-toggle";
import { Card } from "@/components/ui";
import { CALL_SOURCES, CALL_STATUSES, listActivity, listIntegrationHealth } from "@/lib/agent/activity";
import { requireUser } from "@/lib/auth/session";
import { listApiTokenNames } from "@/lib/data/api-tokens";
import { listToolsets } from "@/lib/data/toolsets";
import { isAppError } from "@/lib/errors";
import { ActivityFilters, type Filter } from "./_components/activity-filters";
import { CallTable, type CallView } from "./_components/call-table";
import { STATUS_LABEL } from "./_components/status";

export const metadata: Metadata = { title: "Activity" };

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
  const filters: Filter[] = [
    {
      name: "integration",
      label: "Integration",
      any: "All integrations",
      value: q.integration,
      options: health.map((h) => ({ value: h.integrationId, label: h.name })),
    },
    {
      name: "status",
      label: "Status",
      any: "Any status",
      value: q.status,
      options: CALL_STATUSES.map((s) => ({ value: s, label: STATUS_LABEL[s] ?? s })),
    },
    {
      name: "source",
      label: "Source",
      any: "Any source",
      value: q.source,
      options: CALL_SOURCES.map((s) => ({ value: s, label: s })),
    },
    {
      name: "toolset",
      label: "Toolset",
      any: "Any toolset",
      value: q.toolset,
      options: toolsets.map((t) => ({ value: t.id, label: t.name })),
    },
    {
      name: "token",
      label: "Token",
      any: "Any token",
      value: q.token,
      options: tokens.map((t) => ({
        value: t.id,
        label: `${t.name} (${t.prefix}…)${t.revokedAt ? " — revoked" : ""}`,
      })),
    },
  ];
  const calls: CallView[] = page.calls.map((c) => ({
    id: c.id,
    at: c.at.toISOString(),
    integrationId: c.integrationId,
    integrationName: c.integrationName,
    tool: c.tool,
    source: c.source,
    status: c.status,
    latencyMs: c.latencyMs,
    error: c.error,
    arguments: c.arguments,
    result: c.result,
    toolsetName: c.toolsetName,
    apiTokenName: c.apiTokenName,
  }));
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
          <div>
            <table className="responsive-table w-full text-left text-sm">
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
                    <td className={`py-2 pr-3 font-medium`}>
                      <Link href={`/integrations/${h.integrationId}`} className="break-words hover:underline">
                        {h.name}
                      </Link>
                    </td>
                    <td className="py-2 pr-3" data-label="Calls">
                      {h.calls}
                    </td>
                    <td className="py-2 pr-3" data-label="Success" data-testid="health-success">
                      {formatRate(h.successRate)}
                    </td>
                    <td className="py-2 pr-3" data-label="p50">
                      {formatMs(h.p50Ms)}
                    </td>
                    <td className="py-2 pr-3" data-label="p95">
                      {formatMs(h.p95Ms)}
                    </td>
                    <td className="py-2 pr-3" data-label="Server">
                      <BreakerBadge breaker={h.breaker} />
                    </td>
                    {h.lastError?.message ? (
                      <td
                        className={`py-2 pr-3 break-words text-xs text-red-700 sm:max-w-xs`}
                        data-label="Last error"
                      >
                        {h.lastError.message}
                      </td>
                    ) : (
                      <td />
                    )}
                    <td className="py-2 pr-3">
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
        <ActivityFilters filters={filters} />
        <CallTable calls={calls} empty={filtered ? "No calls match these filters." : "No tool calls yet."} />
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
