"use client";
// Recorded calls: a table on wide screens, a list on phones. A row opens its call: the error, the stored
// arguments and result, and a link that runs it again in the playground.
import Link from "next/link";
import { Fragment, useState } from "react";
import { LocalTime } from "@/components/local-time";
import { Badge } from "@/components/ui";
import { STATUS_LABEL, STATUS_TONE } from "./status";

export type CallView = {
  id: string;
  at: string;
  integrationId: string;
  integrationName: string;
  tool: string;
  source: string;
  status: string;
  latencyMs: number;
  error: string | null;
  arguments: unknown;
  result: unknown;
  toolsetName: string | null;
  apiTokenName: string | null;
};

/** The playground, with this call's tool and (when stored) its arguments filled in. */
export function rerunHref(c: Pick<CallView, "integrationId" | "tool" | "arguments">): string {
  const q = new URLSearchParams({ tool: c.tool });
  if (c.arguments && typeof c.arguments === "object" && !Array.isArray(c.arguments))
    q.set("args", JSON.stringify(c.arguments));
  return `/integrations/${c.integrationId}/playground?${q}`;
}

function Json({ label, value }: { label: string; value: unknown }) {
  return (
    <div className="min-w-0">
      <div className="text-xs font-medium text-zinc-500">{label}</div>
      <pre className="mt-1 max-h-72 overflow-auto whitespace-pre-wrap break-words rounded bg-zinc-50 p-2 text-xs">
        {JSON.stringify(value, null, 2)}
      </pre>
    </div>
  );
}

export function CallTable({ calls, empty }: { calls: CallView[]; empty: string }) {
  const [open, setOpen] = useState<string>();
  return (
    <table className="responsive-table w-full text-left text-sm">
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
        {calls.length === 0 && (
          <tr>
            <td colSpan={6} className="py-4 text-zinc-500">
              {empty}
            </td>
          </tr>
        )}
        {calls.map((c) => {
          const expanded = open === c.id;
          const detailsId = `call-${c.id}`;
          return (
            <Fragment key={c.id}>
              <tr
                className="cursor-pointer border-t border-zinc-100 align-top hover:bg-zinc-50"
                data-testid="call-row"
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest("a,button")) return;
                  setOpen(expanded ? undefined : c.id);
                }}
              >
                <td className={`py-2 pr-3 whitespace-nowrap`} data-label="Time">
                  <LocalTime at={c.at} />
                </td>
                <td className={`py-2 pr-3 break-words`} data-label="Integration">
                  {c.integrationName}
                </td>
                <td className="py-2 pr-3" data-label="Tool">
                  <button
                    type="button"
                    aria-expanded={expanded}
                    aria-controls={detailsId}
                    onClick={() => setOpen(expanded ? undefined : c.id)}
                    className="break-all text-left font-mono text-sm underline decoration-zinc-300 underline-offset-2 hover:decoration-zinc-700"
                  >
                    {c.tool}
                  </button>
                  {c.error && <p className="mt-1 max-w-md break-words text-xs text-red-700">{c.error}</p>}
                </td>
                <td className="py-2 pr-3" data-label="Source">
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
                <td className="py-2 pr-3" data-label="Status" data-testid="call-status">
                  <Badge tone={STATUS_TONE[c.status as keyof typeof STATUS_TONE] ?? "zinc"}>
                    {STATUS_LABEL[c.status] ?? c.status}
                  </Badge>
                </td>
                <td className={`py-2 pr-3 tabular-nums sm:text-right`} data-label="Latency">
                  {c.latencyMs} ms
                </td>
              </tr>
              {expanded && (
                <tr id={detailsId} data-testid="call-details">
                  <td colSpan={6} className="pb-4">
                    <div className="space-y-3 rounded-md border border-zinc-200 bg-white p-3">
                      {c.arguments == null && c.result == null ? (
                        <p className="text-xs text-zinc-600">
                          Arguments and results were not stored for this call. Turn on “store payloads” for
                          the integration to keep them.
                        </p>
                      ) : (
                        <div className="grid gap-3 md:grid-cols-2">
                          {c.arguments != null && <Json label="Arguments" value={c.arguments} />}
                          {c.result != null && <Json label="Result" value={c.result} />}
                        </div>
                      )}
                      <Link
                        href={rerunHref(c)}
                        className="inline-flex rounded-md border border-zinc-300 px-3 py-1.5 text-sm font-medium hover:bg-zinc-100"
                      >
                        Run again in the playground
                      </Link>
                    </div>
                  </td>
                </tr>
              )}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}
