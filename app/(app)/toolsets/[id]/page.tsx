import type { Metadata } from "next";
import Link from "next/link";
import { Alert, Badge, Card } from "@/components/ui";
import { ClientConfig } from "@/components/client-config";
import { DeleteToolsetButton } from "../_components/delete-toolset-button";
import { ModeBadges } from "../_components/mode-badges";
import { endpointUrl, previewToolset } from "../_lib/agent-view";
import { loadToolset } from "./load";

// Resolved before the response starts, so a foreign or unknown id answers with a real 404 status.
export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const { toolset } = await loadToolset((await params).id);
  return { title: toolset.name };
}

const plural = (n: number, one: string) => `${n.toLocaleString("en-US")} ${one}${n === 1 ? "" : "s"}`;

export default async function ToolsetPage({ params }: { params: Promise<{ id: string }> }) {
  const { user, toolset: t } = await loadToolset((await params).id);
  const preview = await previewToolset(user, t.id);
  const url = endpointUrl(t.name);

  // The selection, grouped by integration: every tool, or the chosen names.
  const chosen = new Map<string, { name: string; all: boolean; tools: string[] }>();
  for (const i of t.items) {
    const g = chosen.get(i.integrationId) ?? { name: i.integrationName, all: false, tools: [] };
    if (i.toolName === "") g.all = true;
    else g.tools.push(i.toolName);
    chosen.set(i.integrationId, g);
  }

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div className="min-w-0">
          <Link href="/toolsets" className="text-sm text-zinc-500 hover:underline">
            ← Toolsets
          </Link>
          <h1 className="mt-1 flex flex-wrap items-center gap-2 text-2xl font-semibold">
            <span className="min-w-0 break-all">{t.name}</span>
            <ModeBadges readOnly={t.readOnly} searchMode={t.searchMode} />
          </h1>
          {t.description && (
            <p className="mt-1 whitespace-pre-line break-words text-sm text-zinc-600">{t.description}</p>
          )}
        </div>
        <div className="flex flex-wrap items-center gap-2">
          <Link
            href={`/toolsets/${t.id}/edit`}
            className="rounded-md border border-zinc-300 bg-white px-3 py-1.5 text-sm font-medium text-zinc-800 hover:bg-zinc-100"
          >
            Edit
          </Link>
          <DeleteToolsetButton id={t.id} name={t.name} tokenCount={t.tokens.length} />
        </div>
      </div>

      <Card title="Endpoint">
        <code
          data-testid="toolset-endpoint"
          className="block break-all rounded bg-zinc-900 px-3 py-2 text-sm text-zinc-100"
        >
          {url}
        </code>
        <p className="mt-3 text-sm text-zinc-600">
          MCP over Streamable HTTP with an API token as{" "}
          <code className="rounded bg-zinc-100 px-1">Authorization: Bearer &lt;token&gt;</code>. Tokens
          without a scope reach it too; a token scoped to toolsets reaches only those.
        </p>
        <div className="mt-3 text-sm" data-testid="toolset-tokens">
          {t.tokens.length === 0 ? (
            <span className="text-zinc-500">No token is scoped to this toolset yet.</span>
          ) : (
            <span>
              Scoped tokens:{" "}
              {t.tokens.map((k, n) => (
                <span key={k.id}>
                  {n > 0 && ", "}
                  <strong className="break-all">{k.name}</strong> <code className="text-xs">{k.prefix}…</code>
                </span>
              ))}
            </span>
          )}{" "}
          <Link href="/settings#api-tokens" className="text-zinc-700 underline">
            Manage tokens
          </Link>
        </div>
      </Card>

      <Card title="Chosen tools">
        {chosen.size === 0 ? (
          <Alert kind="warn">
            Nothing is chosen: the endpoint offers no tools. <Link href={`/toolsets/${t.id}/edit`}>Edit</Link>{" "}
            the toolset to choose some.
          </Alert>
        ) : (
          <ul className="space-y-1 text-sm">
            {[...chosen.values()].map((g) => (
              <li key={g.name} className="break-words">
                <span className="font-medium">{g.name}</span>:{" "}
                {g.all ? (
                  <span className="text-zinc-600">all tools, including future ones</span>
                ) : (
                  g.tools.map((name, n) => (
                    <span key={name}>
                      {n > 0 && ", "}
                      <code className="break-all">{name}</code>
                    </span>
                  ))
                )}
              </li>
            ))}
          </ul>
        )}
      </Card>

      <Card title="What an agent sees">
        <div className="flex flex-wrap items-center gap-2 text-sm" data-testid="preview-summary">
          <Badge tone="sky">{plural(preview.tools.length, "tool")}</Badge>
          <span data-testid="preview-tokens">
            tool list: <strong>{plural(preview.listTokens, "token")}</strong>
          </span>
          {preview.instructionsTokens > 0 && (
            <span className="text-zinc-600">
              + instructions: {plural(preview.instructionsTokens, "token")}
            </span>
          )}
        </div>
        {preview.searchMode && preview.fullListTokens !== undefined && (
          <p className="mt-2 text-sm text-zinc-600">
            Search mode: the agent finds the toolset&apos;s {plural(preview.catalog.length, "tool")} through
            search_tools, describe_tool and call_tool. Listing them all would cost{" "}
            {plural(preview.fullListTokens, "token")}.
          </p>
        )}
        {t.readOnly && (
          <p className="mt-2 text-sm text-zinc-600">
            Read-only: only tools their server marks read-only (and never destructive) are offered.
          </p>
        )}
        {preview.tools.length === 0 ? (
          <p className="mt-4 text-sm text-zinc-500">
            No tools: nothing chosen, the chosen tools are turned off, or (read-only) none is marked
            read-only.
          </p>
        ) : (
          <ul className="mt-4 divide-y divide-zinc-100 text-sm" data-testid="preview-tools">
            {preview.tools.map((tool) => (
              <li key={tool.name} className="py-2" data-testid="preview-tool">
                <code className="break-all font-medium">{tool.name}</code>
                {tool.description && (
                  <p className="mt-0.5 line-clamp-2 break-words text-xs text-zinc-500">{tool.description}</p>
                )}
              </li>
            ))}
          </ul>
        )}
        {preview.searchMode && preview.catalog.length > 0 && (
          <details className="mt-3 text-sm">
            <summary className="cursor-pointer text-zinc-700">
              Tools behind the search ({preview.catalog.length})
            </summary>
            <ul className="mt-2 space-y-1" data-testid="preview-searchable">
              {preview.catalog.map((c) => (
                <li key={c.name} className="break-words">
                  <code className="break-all">{c.name}</code>{" "}
                  <span className="text-xs text-zinc-500">({c.integration})</span>
                </li>
              ))}
            </ul>
          </details>
        )}
        <details className="mt-3 text-sm">
          <summary className="cursor-pointer text-zinc-700">The exact tools/list result</summary>
          <pre className="mt-2 max-h-96 overflow-auto rounded bg-zinc-50 p-2 text-xs">
            {JSON.stringify({ tools: preview.tools }, null, 2)}
          </pre>
        </details>
        {preview.instructions && (
          <details className="mt-2 text-sm">
            <summary className="cursor-pointer text-zinc-700">Instructions</summary>
            <pre className="mt-2 max-h-96 overflow-auto whitespace-pre-wrap break-words rounded bg-zinc-50 p-2 text-xs">
              {preview.instructions}
            </pre>
          </details>
        )}
        <p className="mt-3 text-xs text-zinc-500">
          Sizes are counted with the o200k tokenizer (GPT-4o and later) over the JSON the agent receives;
          other models&apos; tokenizers count somewhat differently.
        </p>
      </Card>

      <Card title="Connect a client">
        <ClientConfig url={url} name={t.name} />
      </Card>
    </div>
  );
}
