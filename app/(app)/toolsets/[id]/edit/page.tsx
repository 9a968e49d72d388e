import type { Metadata } from "next";
import Link from "next/link";
import { Card } from "@/components/ui";
import { ToolsetForm } from "../../_components/toolset-form";
import { integrationChoices } from "../../_lib/choices";
import { loadToolset } from "../load";

// Resolved before the response starts, so a foreign or unknown id answers with a real 404 status.
export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const { toolset } = await loadToolset((await params).id);
  return { title: `Edit ${toolset.name}` };
}

export default async function EditToolsetPage({ params }: { params: Promise<{ id: string }> }) {
  const { user, toolset: t } = await loadToolset((await params).id);
  const integrations = await integrationChoices(user);
  return (
    <div className="space-y-6">
      <div className="min-w-0">
        <Link href={`/toolsets/${t.id}`} className="text-sm text-zinc-500 hover:underline">
          ← {t.name}
        </Link>
        <h1 className="mt-1 break-all text-2xl font-semibold">Edit {t.name}</h1>
      </div>
      <Card>
        <ToolsetForm
          initial={{
            id: t.id,
            name: t.name,
            description: t.description,
            readOnly: t.readOnly,
            searchMode: t.searchMode,
            items: t.items.map((i) => ({ integrationId: i.integrationId, toolName: i.toolName })),
          }}
          integrations={integrations}
        />
      </Card>
    </div>
  );
}
