import type { Metadata } from "next";
import Link from "next/link";
import { Card } from "@/components/ui";
import { requireUser } from "@/lib/auth/session";
import { ToolsetForm } from "../_components/toolset-form";
import { integrationChoices } from "../_lib/choices";

export const metadata: Metadata = { title: "New toolset" };

export default async function NewToolsetPage() {
  const user = await requireUser("/toolsets/new");
  const integrations = await integrationChoices(user);
  return (
    <div className="space-y-6">
      <div>
        <Link href="/toolsets" className="text-sm text-zinc-500 hover:underline">
          ← Toolsets
        </Link>
        <h1 className="mt-1 text-2xl font-semibold">New toolset</h1>
      </div>
      <Card>
        <ToolsetForm
          initial={{ name: "", description: "", readOnly: false, searchMode: false, items: [] }}
          integrations={integrations}
        />
      </Card>
    </div>
  );
}
