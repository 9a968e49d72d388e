// GET /r/<token> — a shared recipe: what it installs (exact server origins and scopes) and, for a signed-in
// person, the install wizard. Reads only: no outbound request and no write happen here (docs/security.md §6).
import type { Metadata } from "next";
import { cache } from "react";
import Link from "next/link";
import { notFound } from "next/navigation";
import { Card } from "@/components/ui";
import { currentUser } from "@/lib/auth/session";
import { isAppError } from "@/lib/errors";
import { getInstallView, type InstallView } from "@/lib/kitchen/install";
import { previewRecipe, type RecipePreview } from "@/lib/kitchen/recipes";
import { InstallWizard } from "./_components/install-wizard";
import { ItemHeader } from "./_components/item-header";

const load = cache(async (token: string): Promise<{ preview: RecipePreview; view: InstallView | null }> => {
  try {
    const user = await currentUser();
    if (user) {
      const view = await getInstallView(user, token);
      return { preview: { ...view.recipe, items: view.items }, view };
    }
    return { preview: await previewRecipe(token), view: null };
  } catch (e) {
    if (isAppError(e) && e.status === 404) notFound();
    throw e;
  }
});

// Resolved before the response starts, so an invalid link answers 404 rather than a streamed page.
export async function generateMetadata({
  params,
}: {
  params: Promise<{ token: string }>;
}): Promise<Metadata> {
  const { preview } = await load((await params).token);
  // No referrer override: the app-wide same-origin policy already keeps the token off other sites, and
  // "no-referrer" would make the browser send `Origin: null` on the Authorize form post (refused).
  return { title: preview.name, robots: { index: false, follow: false } };
}

export default async function RecipeLinkPage({
  params,
  searchParams,
}: {
  params: Promise<{ token: string }>;
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const { token } = await params;
  // Set by the OAuth callback when it returns here: the integration that was just authorized.
  const justConnected = (await searchParams).connected;
  const { preview, view } = await load(token);
  const back = encodeURIComponent(`/r/${token}`);
  return (
    <div className="space-y-6">
      <div>
        <div className="text-sm text-zinc-500">Recipe</div>
        <h1 className="text-2xl font-semibold" data-testid="recipe-name">
          {preview.name}
        </h1>
        {preview.description && (
          <p className="mt-1 whitespace-pre-wrap text-zinc-700">{preview.description}</p>
        )}
      </div>
      {!view && (
        <Card title={`What this installs (${preview.items.length})`}>
          {preview.items.length === 0 && (
            <p className="text-sm text-zinc-500">This recipe has no integrations any more.</p>
          )}
          <ul className="divide-y divide-zinc-100">
            {preview.items.map((i) => (
              <li key={i.templateId} className="py-3" data-testid="preview-item">
                <ItemHeader item={i} />
              </li>
            ))}
          </ul>
          <div className="mt-4 flex flex-wrap items-center gap-3 border-t border-zinc-100 pt-4 text-sm">
            <Link
              href={`/sign-in?callbackUrl=${back}`}
              className="rounded-md bg-zinc-900 px-3 py-1.5 font-medium text-white hover:bg-zinc-700"
            >
              Sign in to install
            </Link>
            <Link href={`/sign-up?callbackUrl=${back}`} className="font-medium underline">
              Create an account
            </Link>
            <span className="text-zinc-500">Nothing is connected until you click Install.</span>
          </div>
        </Card>
      )}
      {view && <InstallWizard token={token} view={view} justConnected={justConnected} />}
    </div>
  );
}
