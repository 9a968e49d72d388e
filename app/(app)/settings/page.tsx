import type { Metadata } from "next";
import Link from "next/link";
import { ClientConfig } from "@/components/client-config";
import { LocalTime } from "@/components/local-time";
import { Badge, Card } from "@/components/ui";
import { currentSession, requireUser } from "@/lib/auth/session";
import { listApiTokens } from "@/lib/data/api-tokens";
import { listToolsets } from "@/lib/data/toolsets";
import { env } from "@/lib/env";
import { CreateTokenForm } from "./_components/create-token-form";
import { RevokeTokenButton } from "./_components/revoke-token-button";
import { SessionsCard } from "./_components/sessions-card";
import { TokenScopeEditor } from "./_components/token-scope-editor";

export const metadata: Metadata = { title: "Settings" };

export default async function SettingsPage() {
  const user = await requireUser();
  const [tokens, toolsets, session] = await Promise.all([
    listApiTokens(user),
    listToolsets(user),
    currentSession(),
  ]);
  const toolsetOptions = toolsets.map((t) => ({ id: t.id, name: t.name, searchMode: t.searchMode }));
  const appUrl = env().APP_URL;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Settings</h1>
      <Card title="Agent endpoint">
        <p className="text-sm text-zinc-600">
          Any MCP client can use all your connected integrations through this endpoint, with an API token as{" "}
          <code className="rounded bg-zinc-100 px-1">Authorization: Bearer &lt;token&gt;</code>.
        </p>
        <code
          data-testid="agent-endpoint"
          className="mt-3 block break-all rounded bg-zinc-900 px-3 py-2 text-sm text-zinc-100"
        >
          {appUrl}/api/mcp
        </code>
        <p className="mt-3 text-sm text-zinc-600">
          To give an agent only some tools, make a{" "}
          <Link href="/toolsets" className="underline">
            toolset
          </Link>
          : it has its own endpoint, and a token can be scoped to it.
        </p>
        <h3 className="mb-2 mt-5 text-sm font-semibold">Connect a client</h3>
        <ClientConfig url={`${appUrl}/api/mcp`} />
      </Card>
      <Card title={<span id="api-tokens">API tokens</span>}>
        <p className="mb-4 text-sm text-zinc-600">
          Tokens authenticate the <code>poke</code> CLI, scripts calling <code>/api/v1</code>, and agents. A
          token is shown once; store it safely.
        </p>
        <CreateTokenForm toolsets={toolsetOptions} />
        <table className="responsive-table mt-6 w-full text-left text-sm">
          <thead className="text-xs uppercase text-zinc-500">
            <tr className="whitespace-nowrap [&>th]:pr-3">
              <th className="py-2">Name</th>
              <th>Token</th>
              <th>Created</th>
              <th>Last used</th>
              <th>Expires</th>
              <th>Scope</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.length === 0 && (
              <tr className="block md:table-row">
                <td colSpan={7} className="block py-4 text-zinc-500 md:table-cell">
                  No tokens yet.
                </td>
              </tr>
            )}
            {tokens.map((t) => (
              <tr key={t.id} className="border-t border-zinc-100 align-top" data-testid="token-row">
                <td className={`py-2 pr-3 break-words font-medium`}>{t.name}</td>
                <td className="py-2 pr-3" data-label="Token">
                  <code>{t.prefix}…</code>
                </td>
                <td className="py-2 pr-3" data-label="Created">
                  <LocalTime at={t.createdAt} />
                </td>
                <td className="py-2 pr-3" data-label="Last used">
                  {t.lastUsedAt ? <LocalTime at={t.lastUsedAt} /> : "never"}
                </td>
                <td className="py-2 pr-3" data-label="Expires">
                  {t.expiresAt ? <LocalTime at={t.expiresAt} /> : "never"}
                </td>
                <td className="py-2 pr-3" data-label="Scope" data-testid="token-scope">
                  <div className="inline-flex flex-wrap items-center gap-1">
                    {t.toolsets.length === 0 ? (
                      <span>All tools</span>
                    ) : (
                      t.toolsets.map((s) => (
                        <Link key={s.id} href={`/toolsets/${s.id}`} className="hover:underline">
                          <Badge tone="sky">{s.name}</Badge>
                        </Link>
                      ))
                    )}
                    {t.toolsets.length === 0 && t.searchMode && <Badge tone="amber">search mode</Badge>}
                  </div>
                  <TokenScopeEditor
                    id={t.id}
                    name={t.name}
                    toolsets={toolsetOptions}
                    initial={{ toolsetIds: t.toolsets.map((s) => s.id), searchMode: t.searchMode }}
                  />
                </td>
                <td className={`py-2 pr-3 sm:text-right`}>
                  <RevokeTokenButton id={t.id} name={t.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <SessionsCard user={user} currentSessionId={session?.sessionId} />
    </div>
  );
}
