import type { Metadata } from "next";
import Link from "next/link";
import { Card } from "@/components/ui";
import { requireAdmin } from "@/lib/auth/session";
import { EMPTY_TEMPLATE, TemplateForm } from "../../_components/template-form";

export const metadata: Metadata = { title: "New template" };

export default async function NewTemplatePage() {
  await requireAdmin();
  return (
    <div className="space-y-6">
      <div>
        <Link href="/kitchen" className="text-sm text-zinc-500 hover:underline">
          ← Kitchen
        </Link>
        <h1 className="mt-1 text-2xl font-semibold">New template</h1>
      </div>
      <Card>
        <TemplateForm initial={EMPTY_TEMPLATE} />
      </Card>
    </div>
  );
}
