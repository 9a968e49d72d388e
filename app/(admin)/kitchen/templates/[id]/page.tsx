import type { Metadata } from "next";
import { cache } from "react";
import Link from "next/link";
import { notFound } from "next/navigation";
import { Alert, Badge, Card, formatDate } from "@/components/ui";
import { requireAdmin } from "@/lib/auth/session";
import { isAppError } from "@/lib/errors";
import { getTemplate } from "@/lib/kitchen/templates";
import { AUTH_LABEL } from "../../_components/labels";
import { DeleteTemplateButton, TemplateForm } from "../../_components/template-form";

const load = cache(async (id: string) => {
  const admin = await requireAdmin();
  try {
    return await getTemplate(admin, id);
  } catch (e) {
    if (isAppError(e) && e.status === 404) notFound();
    throw e;
  }
});

// Resolved before streaming starts, so an unknown id answers with a real 404 status.
export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: (await load((await params).id)).name };
}

export default async function TemplatePage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string>>;
}) {
  const t = await load((await params).id);
  const sp = await searchParams;
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div>
          <Link href="/kitchen" className="text-sm text-zinc-500 hover:underline">
            ← Kitchen
          </Link>
          <h1 className="mt-1 flex items-center gap-3 text-2xl font-semibold">
            {t.name} <Badge tone="sky">{AUTH_LABEL[t.authKind] ?? t.authKind}</Badge>
          </h1>
          <div className="mt-1 text-sm text-zinc-500">
            {t.origin} · version {t.version} · updated {formatDate(t.updatedAt)}
          </div>
        </div>
        <DeleteTemplateButton id={t.id} name={t.name} integrations={t.integrationCount} />
      </div>
      {sp.created && <Alert kind="success">Template created.</Alert>}
      <Card title="Used by">
        <p className="text-sm" data-testid="template-usage">
          {t.integrationCount} integration{t.integrationCount === 1 ? "" : "s"}
          {t.recipes.length ? "; recipes: " : "; no recipes."}
          {t.recipes.map((r, i) => (
            <span key={r.id}>
              {i > 0 && ", "}
              <Link className="underline" href={`/kitchen/recipes/${r.id}`}>
                {r.name}
              </Link>
            </span>
          ))}
        </p>
        {t.authKind === "oauth" && (
          <p className="mt-1 text-sm text-zinc-600">
            Credentials bound to issuer:{" "}
            <span data-testid="template-issuer">{t.issuer ?? "not yet (first sign-in binds them)"}</span>
          </p>
        )}
      </Card>
      <Card title="Edit">
        <TemplateForm
          id={t.id}
          hasClientSecret={t.hasClientSecret}
          hasClientPrivateKey={t.hasClientPrivateKey}
          clientPublicJwk={t.clientPublicJwk}
          initial={{
            name: t.name,
            slug: t.slug,
            description: t.description,
            iconUrl: t.iconUrl ?? "",
            serverUrl: t.serverUrl,
            authKind: t.authKind === "none" || t.authKind === "api_key" ? t.authKind : "oauth",
            clientId: t.clientId ?? "",
            scopes: t.scopes ?? "",
            issuer: t.issuer ?? "",
            resourceMode:
              t.resourceMode === "omit" || t.resourceMode === "override" ? t.resourceMode : "default",
            resourceOverride: t.resourceOverride ?? "",
            extraAuthParams: Object.entries(t.extraAuthParams)
              .map(([k, v]) => `${k}=${v}`)
              .join("\n"),
            tokenEndpointAuthMethod:
              t.tokenEndpointAuthMethod === "client_secret_basic" ||
              t.tokenEndpointAuthMethod === "client_secret_post" ||
              t.tokenEndpointAuthMethod === "none"
                ? t.tokenEndpointAuthMethod
                : "",
          }}
        />
      </Card>
    </div>
  );
}
