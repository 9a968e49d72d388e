import type { Metadata } from "next";
import Link from "next/link";
import { Badge, Card } from "@/components/ui";
import { requireAdmin } from "@/lib/auth/session";
import { listRecipes } from "@/lib/kitchen/recipes";
import { listTemplates } from "@/lib/kitchen/templates";
import { AUTH_LABEL } from "./_components/labels";

export const metadata: Metadata = { title: "Kitchen" };

export default async function KitchenPage() {
  const admin = await requireAdmin();
  const [templates, recipes] = await Promise.all([listTemplates(admin), listRecipes(admin)]);
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Kitchen</h1>
        <p className="mt-1 text-sm text-zinc-600">
          Templates hold a server and the OAuth client credentials people need for it; recipes bundle
          templates behind a share link anyone can install from.
        </p>
      </div>
      <Card
        title={`Templates (${templates.length})`}
        actions={
          <Link href="/kitchen/templates/new" className="text-sm font-medium underline">
            New template
          </Link>
        }
      >
        {templates.length === 0 ? (
          <p className="text-sm text-zinc-500">No templates yet.</p>
        ) : (
          <ul className="divide-y divide-zinc-100" data-testid="template-list">
            {templates.map((t) => (
              <li
                key={t.id}
                className="flex flex-wrap items-center gap-3 py-2 text-sm"
                data-testid="template-row"
              >
                <Link href={`/kitchen/templates/${t.id}`} className="font-medium underline">
                  {t.name}
                </Link>
                <span className="text-zinc-500">{t.origin}</span>
                <Badge tone="sky">{AUTH_LABEL[t.authKind] ?? t.authKind}</Badge>
                {t.authKind === "oauth" && t.hasClientSecret && <Badge tone="green">secret set</Badge>}
                <span className="ml-auto text-xs text-zinc-500">
                  {t.integrationCount} integration{t.integrationCount === 1 ? "" : "s"} · {t.recipes.length}{" "}
                  recipe
                  {t.recipes.length === 1 ? "" : "s"}
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card
        title={`Recipes (${recipes.length})`}
        actions={
          templates.length ? (
            <Link href="/kitchen/recipes/new" className="text-sm font-medium underline">
              New recipe
            </Link>
          ) : undefined
        }
      >
        {recipes.length === 0 ? (
          <p className="text-sm text-zinc-500">
            {templates.length
              ? "No recipes yet."
              : "Create a template first, then bundle templates into a recipe."}
          </p>
        ) : (
          <ul className="divide-y divide-zinc-100" data-testid="recipe-list">
            {recipes.map((r) => (
              <li
                key={r.id}
                className="flex flex-wrap items-center gap-3 py-2 text-sm"
                data-testid="recipe-row"
              >
                <Link href={`/kitchen/recipes/${r.id}`} className="font-medium underline">
                  {r.name}
                </Link>
                <span className="text-zinc-500">{r.items.map((i) => i.name).join(", ")}</span>
                {!r.shareEnabled && <Badge tone="amber">link disabled</Badge>}
                <span className="ml-auto text-xs text-zinc-500">
                  {r.installCount} install{r.installCount === 1 ? "" : "s"}
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
