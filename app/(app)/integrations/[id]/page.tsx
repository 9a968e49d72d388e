import type { Metadata } from "next";
import { cache } from "react";
import Link from "next/link";
import { notFound, redirect } from "next/navigation";
import { HealthPanel } from "@/components/health-panel";
import { PayloadToggle } from "@/components/payload-toggle";
import { StatusBadge } from "@/components/status-badge";
import { TemplateBadge } from "@/components/template-badge";
import { LocalTime } from "@/components/local-time";
import { Alert, Badge, Card } from "@/components/ui";
import { getIntegrationHealth } from "@/lib/agent/activity";
import { requireUser } from "@/lib/auth/session";
import { getIntegration, getOAuthState, listTools } from "@/lib/data/integrations";
import { isAppError } from "@/lib/errors";
import { UNAUTHORIZED_NO_KEY_MESSAGE } from "@/lib/mcp/errors";
import { describeOAuthError } from "@/lib/oauth/errors";
import { DisconnectButton, DoctorPanel, IntegrationHeader } from "./_components/integration-actions";
import { ServerInstructions } from "./_components/server-instructions";
import { ToolRow } from "./_components/tool-toggle";
import { ResourcesSection } from "./_components/resources-section";

// Resolved before the response starts (see htmlLimitedBots in next.config.ts), so a foreign or unknown
// id answers with a real 404 status rather than a streamed "not found" page.
export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const { integration } = await load((await params).id);
  return { title: integration.name };
}

const load = cache(async (id: string) => {
  const user = await requireUser();
  try {
    return {
      integration: await getIntegration(user, id),
      tools: await listTools(user, id),
      oauth: await getOAuthState(user, id),
      health: await getIntegrationHealth(user, id),
      user,
    };
  } catch (e) {
    if (isAppError(e) && e.status === 404) notFound();
    throw e;
  }
});

const playgroundHref = (id: string, tool?: string) =>
  `/integrations/${id}/playground${tool ? `?tool=${encodeURIComponent(tool)}` : ""}`;

/** Whether the tool must run as a task (`execution.taskSupport`), once the tool list carries it. */
const taskSupportOf = (t: object) => ("taskSupport" in t ? (t.taskSupport as string | null) : null);

function Json({ value }: { value: unknown }) {
  return (
    <pre className="max-h-72 overflow-auto rounded bg-zinc-50 p-2 text-xs">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export default async function IntegrationPage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string>>;
}) {
  const { id } = await params;
  const sp = await searchParams;
  const { integration: i, tools, oauth, health, user } = await load(id);
  // Older links chose a tool on this page; the playground has its own view now.
  if (typeof sp.tool === "string") redirect(playgroundHref(i.id, sp.tool));
  const annotationsOf = (a: unknown) =>
    a && typeof a === "object"
      ? Object.entries(a as Record<string, unknown>).filter(([, v]) => v !== undefined)
      : [];
  const needsAuth = i.status === "needs_auth" || i.status === "needs_reauth";
  // A 401 with no key and no OAuth metadata gets its own card (with Try OAuth) instead of the error banner.
  const offerOAuth = !needsAuth && !oauth && !i.hasApiKey && i.lastError === UNAUTHORIZED_NO_KEY_MESSAGE;
  const enabledCount = tools.filter((t) => t.enabled).length;

  return (
    <div className="space-y-6">
      <IntegrationHeader
        id={i.id}
        name={i.name}
        url={i.url}
        hasApiKey={i.hasApiKey}
        fromTemplate={!!i.templateId}
        playground={tools.length > 0 ? playgroundHref(i.id) : undefined}
      >
        <Link href="/integrations" className="text-sm text-zinc-500 hover:underline">
          ← Integrations
        </Link>
        <h1 className="mt-1 flex flex-wrap items-center gap-x-3 gap-y-1 text-2xl font-semibold">
          <span className="min-w-0 break-words">{i.name}</span> <StatusBadge status={i.status} />
          <TemplateBadge user={user} templateId={i.templateId} />
        </h1>
        <div className="mt-1 break-all text-sm text-zinc-500">{i.url}</div>
      </IntegrationHeader>

      {sp.connected && i.status === "connected" && <Alert kind="success">Authorized and connected.</Alert>}
      {sp.oauth_error && !needsAuth && <Alert>{describeOAuthError(sp.oauth_error)}</Alert>}
      {i.lastError && i.status !== "connected" && !needsAuth && !offerOAuth && !sp.oauth_error && (
        <Alert>
          <span data-testid="integration-error">{i.lastError}</span>
        </Alert>
      )}
      {i.syncNotice && (
        <Alert kind="warn">
          <span data-testid="sync-notice">{i.syncNotice}</span>
        </Alert>
      )}
      {oauth?.state === "authorized" && oauth.missingScopes.length > 0 && (
        <Card>
          <form
            method="post"
            action="/api/oauth/start"
            className="flex items-center justify-between gap-4"
            data-testid="step-up"
          >
            <input type="hidden" name="integrationId" value={i.id} />
            <p className="text-sm">
              Some tools need more access than Poke was granted:{" "}
              <span className="font-mono">{oauth.missingScopes.join(" ")}</span>
            </p>
            <button className="rounded-md bg-zinc-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-zinc-700">
              Grant access
            </button>
          </form>
        </Card>
      )}
      {offerOAuth && (
        <Card>
          <form
            method="post"
            action="/api/oauth/start"
            className="flex flex-wrap items-center justify-between gap-3"
          >
            <input type="hidden" name="integrationId" value={i.id} />
            <p className="min-w-0 text-sm" data-testid="integration-error">
              The server answered 401 and publishes no authorization metadata: add an API key with Edit, or
              try OAuth.
            </p>
            <button className="rounded-md border border-zinc-300 px-3 py-1.5 text-sm font-medium hover:bg-zinc-50">
              Try OAuth
            </button>
          </form>
        </Card>
      )}
      {needsAuth && (
        // One message for "needs authorization", with the failed attempt's reason when there was one.
        <section
          role={sp.oauth_error ? "alert" : "status"}
          className="rounded-lg border border-amber-200 bg-amber-50 p-4 text-amber-950"
          data-testid="needs-auth"
        >
          <form
            method="post"
            action="/api/oauth/start"
            className="flex flex-wrap items-center justify-between gap-3"
          >
            <input type="hidden" name="integrationId" value={i.id} />
            <p className="min-w-0 text-sm">
              {sp.oauth_error && <strong className="block">{describeOAuthError(sp.oauth_error)}</strong>}
              {i.status === "needs_reauth"
                ? "The authorization for this server expired or was revoked."
                : "This server requires you to authorize Poke (OAuth)."}
            </p>
            <button className="rounded-md bg-zinc-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-zinc-700">
              {i.status === "needs_reauth" ? "Reconnect" : "Authorize"}
            </button>
          </form>
        </section>
      )}

      {i.instructions && (
        <Card title="Server instructions">
          <ServerInstructions text={i.instructions} />
        </Card>
      )}

      <div className="grid gap-6 lg:grid-cols-2">
        <Card title="Server">
          <dl
            className="grid grid-cols-[minmax(0,10rem)_minmax(0,1fr)] gap-x-2 gap-y-1 break-words text-sm"
            data-testid="server-metadata"
          >
            <dt className="text-zinc-500">Name</dt>
            <dd>{i.serverName ?? "—"}</dd>
            <dt className="text-zinc-500">Title</dt>
            <dd>{i.serverTitle ?? "—"}</dd>
            <dt className="text-zinc-500">Version</dt>
            <dd>{i.serverVersion ?? "—"}</dd>
            <dt className="text-zinc-500">Protocol</dt>
            <dd>{i.protocolVersion ?? "—"}</dd>
            <dt className="text-zinc-500">Transport</dt>
            <dd>{i.transport ?? "—"}</dd>
            <dt className="text-zinc-500">Authentication</dt>
            <dd data-testid="auth-state">
              {oauth
                ? `OAuth — ${oauth.state === "authorized" ? "authorized" : oauth.state === "needs_reauth" ? "needs re-authorization" : "not authorized yet"}`
                : i.hasApiKey
                  ? "API key"
                  : "none"}
            </dd>
            {oauth?.issuer && (
              <>
                <dt className="text-zinc-500">Authorization server</dt>
                <dd className="break-all">{oauth.issuer}</dd>
              </>
            )}
            {oauth?.state === "authorized" && (
              <>
                <dt className="text-zinc-500">Scopes</dt>
                <dd>{oauth.scopes.join(" ") || "—"}</dd>
                <dt className="text-zinc-500">Access token expires</dt>
                <dd>
                  {oauth.expiresAt ? (
                    <>
                      <LocalTime at={oauth.expiresAt} /> (refreshed automatically)
                    </>
                  ) : (
                    "—"
                  )}
                </dd>
              </>
            )}
            <dt className="text-zinc-500">Last synced</dt>
            <dd>{i.lastSyncedAt ? <LocalTime at={i.lastSyncedAt} /> : "never"}</dd>
          </dl>
          {oauth?.state === "authorized" && (
            <div className="mt-3">
              <DisconnectButton id={i.id} />
            </div>
          )}
          {i.capabilities && (
            <details className="mt-3 text-sm">
              <summary className="cursor-pointer text-zinc-600">Capabilities</summary>
              <Json value={i.capabilities} />
            </details>
          )}
        </Card>
        <Card title="Doctor">
          <p className="mb-3 text-sm text-zinc-600">
            Runs the connection step by step (URL, DNS, egress policy, transport, protocol, authorization,
            tools) and says which step fails.
          </p>
          <DoctorPanel id={i.id} />
        </Card>
      </div>

      <Card title="Health (last 24 h)">
        <HealthPanel health={health} />
        <div className="mt-4 border-t border-zinc-100 pt-3">
          <PayloadToggle id={i.id} name={i.name} enabled={i.storePayloads} />
        </div>
      </Card>

      <Card
        title={
          <span data-testid="tools-title">
            Tools (
            {tools.length === enabledCount ? tools.length : `${enabledCount} of ${tools.length} enabled`})
          </span>
        }
      >
        {tools.length === 0 && (
          <p className="text-sm text-zinc-500">No tools stored yet. Re-sync to discover them.</p>
        )}
        <ul className="divide-y divide-zinc-100" data-testid="tool-list">
          {tools.map((t) => (
            <ToolRow
              key={t.name}
              id={i.id}
              tool={t.name}
              enabled={t.enabled}
              head={
                <>
                  <span className="min-w-0 break-all font-mono text-sm font-medium">{t.name}</span>
                  {t.title && <span className="text-sm text-zinc-600">{t.title}</span>}
                  {taskSupportOf(t) === "required" && (
                    <span title="This tool runs as a task (started, then polled for its result)">
                      <Badge tone="amber">task</Badge>
                    </span>
                  )}
                  {annotationsOf(t.annotations).map(([k, v]) => (
                    <Badge key={k} tone="sky">
                      {k}
                      {v === true ? "" : `=${String(v)}`}
                    </Badge>
                  ))}
                  {t.changedAt && (
                    <Badge tone="amber">
                      changed <LocalTime at={t.changedAt} />
                    </Badge>
                  )}
                  <Link
                    href={playgroundHref(i.id, t.name)}
                    aria-label={`Try ${t.name}`}
                    className="rounded-md border border-zinc-300 px-2 py-0.5 text-xs font-medium text-zinc-700 hover:bg-zinc-100"
                  >
                    Try
                  </Link>
                </>
              }
            >
              {t.description && (
                <p className="mt-1 whitespace-pre-wrap break-words text-sm text-zinc-700">{t.description}</p>
              )}
              <details className="mt-1 text-sm">
                <summary className="cursor-pointer text-xs text-zinc-500">Schemas</summary>
                <div className="mt-2 grid gap-2 md:grid-cols-2">
                  <div className="min-w-0">
                    <div className="text-xs font-medium text-zinc-500">Input</div>
                    <Json value={t.inputSchema} />
                  </div>
                  {t.outputSchema !== null && (
                    <div className="min-w-0">
                      <div className="text-xs font-medium text-zinc-500">Output</div>
                      <Json value={t.outputSchema} />
                    </div>
                  )}
                </div>
              </details>
            </ToolRow>
          ))}
        </ul>
      </Card>

      <ResourcesSection user={user} integrationId={i.id} capabilities={i.capabilities} />
    </div>
  );
}
