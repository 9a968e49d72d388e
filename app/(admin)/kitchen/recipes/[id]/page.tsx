import type { Metadata } from "next";
import { cache } from "react";
import Link from "next/link";
import { notFound } from "next/navigation";
import { Card, formatDate } from "@/components/ui";
import { requireAdmin } from "@/lib/auth/session";
import { isAppError } from "@/lib/errors";
import { originOf } from "@/lib/kitchen/admin";
import { getRecipe } from "@/lib/kitchen/recipes";
import { templateChoices } from "@/lib/kitchen/templates";
import { DeleteRecipeButton, RecipeForm, ShareLinkPanel } from "../../_components/recipe-form";

const load = cache(async (id: string) => {
  const admin = await requireAdmin();
  try {
    return { admin, recipe: await getRecipe(admin, id) };
  } catch (e) {
    if (isAppError(e) && e.status === 404) notFound();
    throw e;
  }
});

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: (await load((await params).id)).recipe.name };
}

export default async function RecipePage({ params }: { params: Promise<{ id: string }> }) {
  const { admin, recipe: r } = await load((await params).id);
  const templates = (await templateChoices(admin)).map((t) => ({
    id: t.id,
    name: t.name,
    authKind: t.authKind,
    origin: originOf(t.serverUrl),
  }));
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div>
          <Link href="/kitchen" className="text-sm text-zinc-500 hover:underline">
            ← Kitchen
          </Link>
          <h1 className="mt-1 text-2xl font-semibold">{r.name}</h1>
          <div className="mt-1 text-sm text-zinc-500">
            {r.installCount} install{r.installCount === 1 ? "" : "s"} · updated {formatDate(r.updatedAt)}
          </div>
        </div>
        <DeleteRecipeButton id={r.id} name={r.name} />
      </div>
      <Card title="Share link">
        <ShareLinkPanel id={r.id} enabled={r.shareEnabled} hasLink={r.hasShareLink} />
      </Card>
      <Card title="Edit">
        <RecipeForm
          id={r.id}
          templates={templates}
          initial={{
            name: r.name,
            description: r.description,
            items: r.items.map((i) => ({ templateId: i.templateId, required: i.required })),
          }}
        />
      </Card>
    </div>
  );
}
