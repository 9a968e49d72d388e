"use client";
import Link from "next/link";
import { ConfirmButton } from "@/components/confirm-button";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Badge, Button, Input } from "@/components/ui";
import {
  createRecipeAction,
  deleteRecipeAction,
  rotateLinkAction,
  setShareEnabledAction,
  updateRecipeAction,
} from "../actions";

export type TemplateChoice = { id: string; name: string; authKind: string; origin: string };
type Item = { templateId: string; required: boolean };

const selectClass =
  "mt-1 block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-sm shadow-sm outline-none focus:border-zinc-500";

export function RecipeForm({
  id,
  templates,
  initial,
}: {
  id?: string;
  templates: TemplateChoice[];
  initial: { name: string; description: string; items: Item[] };
}) {
  const router = useRouter();
  const [name, setName] = useState(initial.name);
  const [description, setDescription] = useState(initial.description);
  const [items, setItems] = useState<Item[]>(initial.items);
  const [adding, setAdding] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [created, setCreated] = useState<{ id: string; shareUrl: string }>();
  const [saved, setSaved] = useState(false);
  const byId = new Map(templates.map((t) => [t.id, t]));
  const available = templates.filter((t) => !items.some((i) => i.templateId === t.id));

  /** Editing a field clears its error, and the banner when it said the same thing. */
  const fixed = (k: string) => {
    const message = fieldErrors[k];
    if (!message) return;
    setFieldErrors((prev) => Object.fromEntries(Object.entries(prev).filter(([f]) => f !== k)));
    if (error === message) setError(undefined);
  };
  const changeItems: typeof setItems = (next) => {
    fixed("items");
    setItems(next);
  };

  const move = (from: number, to: number) =>
    changeItems((prev) => {
      if (to < 0 || to >= prev.length) return prev;
      const next = [...prev];
      [next[from], next[to]] = [next[to], next[from]];
      return next;
    });

  async function save(e: React.FormEvent) {
    e.preventDefault();
    setPending(true);
    setError(undefined);
    setFieldErrors({});
    setSaved(false);
    const input = { name, description, items };
    const res = id ? await updateRecipeAction({ ...input, id }) : await createRecipeAction(input);
    setPending(false);
    if (!res.ok) {
      setError(res.error);
      setFieldErrors(res.fieldErrors ?? {});
      return;
    }
    if (res.data && "shareUrl" in res.data) setCreated(res.data);
    else setSaved(true);
    router.refresh();
  }

  if (created) {
    return (
      <div className="space-y-4">
        <Alert kind="success">Recipe created.</Alert>
        <ShareUrl url={created.shareUrl} />
        <Link className="text-sm font-medium underline" href={`/kitchen/recipes/${created.id}`}>
          Open the recipe
        </Link>
      </div>
    );
  }

  return (
    <form onSubmit={save} className="space-y-4" noValidate>
      <Input
        label="Recipe name"
        value={name}
        onChange={(e) => {
          fixed("name");
          setName(e.target.value);
        }}
        error={fieldErrors.name}
      />
      <label className="block text-sm">
        <span className="font-medium text-zinc-800">Description</span>
        <textarea
          className={selectClass}
          rows={2}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
        />
      </label>
      <div className="space-y-2">
        <div className="text-sm font-medium">Templates, in install order</div>
        {items.length === 0 && <p className="text-sm text-zinc-500">No templates yet: add at least one.</p>}
        <ol className="space-y-2" data-testid="recipe-items">
          {items.map((item, i) => {
            const t = byId.get(item.templateId);
            return (
              <li
                key={item.templateId}
                className="flex flex-wrap items-center gap-2 rounded-md border border-zinc-200 p-2 text-sm"
                data-testid="recipe-item"
              >
                <span className="w-6 text-zinc-500">{i + 1}.</span>
                <span className="font-medium">{t?.name ?? "(deleted template)"}</span>
                {t && <span className="text-zinc-500">{t.origin}</span>}
                <label className="ml-auto flex items-center gap-1">
                  <input
                    type="checkbox"
                    checked={item.required}
                    onChange={(e) =>
                      changeItems((prev) =>
                        prev.map((p, j) => (j === i ? { ...p, required: e.target.checked } : p)),
                      )
                    }
                    aria-label={`Required: ${t?.name ?? item.templateId}`}
                  />
                  required
                </label>
                <Button
                  type="button"
                  variant="ghost"
                  onClick={() => move(i, i - 1)}
                  aria-label={`Move up: ${t?.name}`}
                >
                  ↑
                </Button>
                <Button
                  type="button"
                  variant="ghost"
                  onClick={() => move(i, i + 1)}
                  aria-label={`Move down: ${t?.name}`}
                >
                  ↓
                </Button>
                <Button
                  type="button"
                  variant="ghost"
                  onClick={() => changeItems((prev) => prev.filter((_, j) => j !== i))}
                  aria-label={`Remove: ${t?.name}`}
                >
                  Remove
                </Button>
              </li>
            );
          })}
        </ol>
        {available.length > 0 && (
          <div className="flex items-end gap-2">
            <label className="block flex-1 text-sm">
              <span className="font-medium text-zinc-800">Add template</span>
              <select className={selectClass} value={adding} onChange={(e) => setAdding(e.target.value)}>
                <option value="">Choose…</option>
                {available.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name} ({t.origin})
                  </option>
                ))}
              </select>
            </label>
            <Button
              type="button"
              variant="secondary"
              disabled={!adding}
              onClick={() => {
                changeItems((prev) => [...prev, { templateId: adding, required: true }]);
                setAdding("");
              }}
            >
              Add
            </Button>
          </div>
        )}
        {fieldErrors.items && fieldErrors.items !== error && (
          <p className="text-xs text-red-700">{fieldErrors.items}</p>
        )}
      </div>
      {error && <Alert>{error}</Alert>}
      {saved && <Alert kind="success">Saved.</Alert>}
      <Button type="submit" disabled={pending}>
        {pending ? "Saving…" : id ? "Save recipe" : "Create recipe"}
      </Button>
    </form>
  );
}

export function ShareUrl({ url }: { url: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="space-y-2 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm">
      <div className="font-medium">
        Share link — copy it now: only a hash is stored, so it can&apos;t be shown again.
      </div>
      <div className="flex items-center gap-2">
        <code className="flex-1 break-all rounded bg-white px-2 py-1" data-testid="share-url">
          {url}
        </code>
        <Button
          type="button"
          variant="secondary"
          onClick={async () => {
            await navigator.clipboard?.writeText(url).catch(() => {});
            setCopied(true);
          }}
        >
          {copied ? "Copied" : "Copy"}
        </Button>
      </div>
    </div>
  );
}

export function ShareLinkPanel({ id, enabled, hasLink }: { id: string; enabled: boolean; hasLink: boolean }) {
  const router = useRouter();
  const [url, setUrl] = useState<string>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const run = async (fn: () => Promise<{ ok: true; data: unknown } | { ok: false; error: string }>) => {
    setPending(true);
    setError(undefined);
    const res = await fn();
    setPending(false);
    if (!res.ok) setError(res.error);
    router.refresh();
    return res;
  };
  return (
    <div className="space-y-3">
      <p className="text-sm" data-testid="share-status">
        {enabled && hasLink ? (
          <Badge tone="green">link active</Badge>
        ) : (
          <Badge tone="amber">link disabled</Badge>
        )}{" "}
        Anyone with the link can see this recipe and install it after signing in.
      </p>
      {url && <ShareUrl url={url} />}
      <div className="flex flex-wrap gap-2">
        <Button
          type="button"
          variant="secondary"
          disabled={pending}
          onClick={async () => {
            if (hasLink && !confirm("Create a new link? The current link stops working at once.")) return;
            const res = await run(() => rotateLinkAction({ id }));
            if (res.ok) setUrl((res.data as { shareUrl: string }).shareUrl);
          }}
        >
          {hasLink ? "Rotate link" : "Create link"}
        </Button>
        {hasLink && (
          <Button
            type="button"
            variant="secondary"
            disabled={pending}
            onClick={() => run(() => setShareEnabledAction({ id, enabled: !enabled }))}
          >
            {enabled ? "Disable link" : "Enable link"}
          </Button>
        )}
      </div>
      {error && <Alert>{error}</Alert>}
    </div>
  );
}

export function DeleteRecipeButton({ id, name }: { id: string; name: string }) {
  return (
    <ConfirmButton
      question={`Delete the recipe "${name}"? Its link stops working; installed integrations stay.`}
      action={() => deleteRecipeAction({ id })}
      then="/kitchen"
    >
      Delete recipe
    </ConfirmButton>
  );
}
