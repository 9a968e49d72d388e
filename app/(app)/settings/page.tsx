import type { Metadata } from "next";
import { Card, formatDate } from "@/components/ui";
import { requireUser } from "@/lib/auth/session";
import { listApiTokens } from "@/lib/data/api-tokens";
import { env } from "@/lib/env";
import { CreateTokenForm } from "./_components/create-token-form";
import { RevokeTokenButton } from "./_components/revoke-token-button";

export const metadata: Metadata = { title: "Settings" };

export default async function SettingsPage() {
  const user = await requireUser();
  const tokens = await listApiTokens(user);
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
          className="mt-3 block rounded bg-zinc-900 px-3 py-2 text-sm text-zinc-100"
        >
          {appUrl}/api/mcp
        </code>
      </Card>
      <Card title="API tokens">
        <p className="mb-4 text-sm text-zinc-600">
          Tokens authenticate the <code>poke</code> CLI, scripts calling <code>/api/v1</code>, and agents. A
          token is shown once; store it safely.
        </p>
        <CreateTokenForm />
        <table className="mt-6 w-full text-left text-sm">
          <thead className="text-xs uppercase text-zinc-500">
            <tr>
              <th className="py-2">Name</th>
              <th>Token</th>
              <th>Created</th>
              <th>Last used</th>
              <th>Expires</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.length === 0 && (
              <tr>
                <td colSpan={6} className="py-4 text-zinc-500">
                  No tokens yet.
                </td>
              </tr>
            )}
            {tokens.map((t) => (
              <tr key={t.id} className="border-t border-zinc-100" data-testid="token-row">
                <td className="py-2 font-medium">{t.name}</td>
                <td>
                  <code>{t.prefix}…</code>
                </td>
                <td>{formatDate(t.createdAt)}</td>
                <td>{formatDate(t.lastUsedAt)}</td>
                <td>{t.expiresAt ? formatDate(t.expiresAt) : "never"}</td>
                <td className="text-right">
                  <RevokeTokenButton id={t.id} name={t.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </div>
  );
}
