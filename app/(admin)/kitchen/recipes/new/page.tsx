import type { Metadata } from "next";
import Link from "next/link";
import { Card } from "@/components/ui";
import { requireAdmin } from "@/lib/auth/session";
import { originOf } from "@/lib/kitchen/admin";
import { templateChoices } from "@/lib/kitchen/templates";
import { RecipeForm } from "../../_components/recipe-form";

export const metadata: Metadata = { title: "New recipe" };

export default async function NewRecipePage() {
  const admin = await requireAdmin();
  const templates = (await templateChoices(admin)).map((t) => ({
    id: t.id,
    name: t.name,
    authKind: t.authKind,
    origin: originOf(t.serverUrl),
  }));
  return (
    <div className="space-y-6">
      <div>
        <Link href="/kitchen" className="text-sm text-zinc-500 hover:underline">
          ← Kitchen
        </Link>
        <h1 className="mt-1 text-2xl font-semibold">New recipe</h1>
      </div>
      <Card>
        {templates.length ? (
          <RecipeForm templates={templates} initial={{ name: "", description: "", items: [] }} />
        ) : (
          <p className="text-sm text-zinc-600">
            A recipe bundles templates:{" "}
            <Link className="underline" href="/kitchen/templates/new">
              create a template
            </Link>{" "}
            first.
          </p>
        )}
      </Card>
    </div>
  );
}
