import type { Metadata } from "next";
import { cache } from "react";
import Link from "next/link";
import { notFound } from "next/navigation";
import { Card } from "@/components/ui";
import { requireUser } from "@/lib/auth/session";
import { getIntegration, listTools } from "@/lib/data/integrations";
import { isAppError } from "@/lib/errors";
import { Playground, type PlaygroundTool } from "../_components/playground";

// Resolved before the response starts, so a foreign or unknown id answers with a real 404.
export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const { integration } = await load((await params).id);
  return { title: `Playground · ${integration.name}` };
}

const load = cache(async (id: string) => {
  const user = await requireUser();
  try {
    return { integration: await getIntegration(user, id), tools: await listTools(user, id) };
  } catch (e) {
    if (isAppError(e) && e.status === 404) notFound();
    throw e;
  }
});

/** `&args=` prefill: a URL-encoded JSON object, ignored when it is anything else. */
function parseArgs(raw: string | string[] | undefined): Record<string, unknown> | undefined {
  if (typeof raw !== "string" || raw.length > 64 * 1024) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export default async function PlaygroundPage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { id } = await params;
  const sp = await searchParams;
  const { integration, tools } = await load(id);
  const tool = typeof sp.tool === "string" ? sp.tool : undefined;
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h1 className="text-xl font-semibold break-words">Playground · {integration.name}</h1>
        <Link href={`/integrations/${integration.id}`} className="text-sm text-indigo-700 underline">
          Back to {integration.name}
        </Link>
      </div>
      <Card title="Playground">
        <Playground
          integrationId={integration.id}
          initialTool={tool}
          initialArgs={parseArgs(sp.args)}
          tools={tools.map((t): PlaygroundTool => ({
            name: t.name,
            title: t.title,
            enabled: t.enabled,
            inputSchema: (t.inputSchema ?? { type: "object" }) as PlaygroundTool["inputSchema"],
            taskSupport: "taskSupport" in t ? (t.taskSupport as PlaygroundTool["taskSupport"]) : null,
          }))}
        />
      </Card>
    </div>
  );
}
