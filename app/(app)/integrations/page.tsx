import type { Metadata } from "next";
import Link from "next/link";
import { StatusBadge } from "@/components/status-badge";
import { Card, formatDate } from "@/components/ui";
import { requireUser } from "@/lib/auth/session";
import { listIntegrations } from "@/lib/data/integrations";
import { AddIntegrationForm } from "./_components/add-integration-form";

export const metadata: Metadata = { title: "Integrations" };

export default async function IntegrationsPage() {
  const user = await requireUser();
  const integrations = await listIntegrations(user);
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Integrations</h1>
        <p className="mt-1 text-sm text-zinc-600">
          Remote MCP servers you connected. Their tools are available in the playground, the API and the agent
          endpoint.
        </p>
      </div>
      <Card title="Add an integration">
        <AddIntegrationForm />
      </Card>
      <div className="grid gap-3" data-testid="integration-list">
        {integrations.length === 0 && <p className="text-sm text-zinc-500">No integrations yet.</p>}
        {integrations.map((i) => (
          <Link
            key={i.id}
            href={`/integrations/${i.id}`}
            className="flex flex-wrap items-center gap-x-4 gap-y-2 rounded-lg border border-zinc-200 bg-white px-4 py-3 shadow-sm hover:border-zinc-400"
            data-testid="integration-card"
          >
            <div className="min-w-0 basis-full sm:basis-0 sm:flex-1">
              <div className="font-medium break-words">{i.name}</div>
              <div className="text-xs break-all text-zinc-500">{i.url}</div>
            </div>
            <div className="text-xs text-zinc-500 sm:text-right">
              <div>{i.toolCount} tools</div>
              <div>synced {formatDate(i.lastSyncedAt)}</div>
            </div>
            <StatusBadge status={i.status} />
          </Link>
        ))}
      </div>
    </div>
  );
}
