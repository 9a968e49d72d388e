import type { Metadata } from "next";
import Link from "next/link";
import { Badge, Card } from "@/components/ui";
import { requireUser } from "@/lib/auth/session";
import { listToolsets } from "@/lib/data/toolsets";
import { ModeBadges } from "./_components/mode-badges";
import { countToolsetTools, endpointUrl } from "./_lib/agent-view";

export const metadata: Metadata = { title: "Toolsets" };

export default async function ToolsetsPage() {
  const user = await requireUser("/toolsets");
  const toolsets = await listToolsets(user);
  const counts = await countToolsetTools(
    user,
    toolsets.map((t) => t.id),
  );
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div className="min-w-0">
          <h1 className="text-2xl font-semibold">Toolsets</h1>
          <p className="mt-1 text-sm text-zinc-600">
            Each toolset is its own agent endpoint with only the tools you choose: give every agent a small,
            safe set, and scope its API token to it in Settings.
          </p>
        </div>
        <Link
          href="/toolsets/new"
          className="rounded-md bg-zinc-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-zinc-700"
        >
          New toolset
        </Link>
      </div>
      {toolsets.length === 0 ? (
        <Card>
          <p className="text-sm text-zinc-500">
            No toolsets yet. Without one, agents use <code>/api/mcp</code> with every enabled tool of every
            integration.
          </p>
        </Card>
      ) : (
        <ul className="grid gap-3" data-testid="toolset-list">
          {toolsets.map((t) => {
            const tools = counts.get(t.id);
            return (
              <li key={t.id}>
                <Link
                  href={`/toolsets/${t.id}`}
                  className="block rounded-lg border border-zinc-200 bg-white px-4 py-3 shadow-sm hover:border-zinc-400"
                  data-testid="toolset-card"
                >
                  <div className="flex flex-wrap items-center gap-2">
                    <span className="min-w-0 break-all font-medium">{t.name}</span>
                    <ModeBadges readOnly={t.readOnly} searchMode={t.searchMode} />
                    {t.tokenCount > 0 && (
                      <Badge>
                        {t.tokenCount} token{t.tokenCount === 1 ? "" : "s"}
                      </Badge>
                    )}
                    <span className="ml-auto text-xs text-zinc-500" data-testid="toolset-tool-count">
                      {tools === undefined ? "" : `${tools} tool${tools === 1 ? "" : "s"}`}
                    </span>
                  </div>
                  {t.description && (
                    <p className="mt-1 line-clamp-2 break-words text-sm text-zinc-600">{t.description}</p>
                  )}
                  <code className="mt-1 block break-all text-xs text-zinc-500">{endpointUrl(t.name)}</code>
                </Link>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
