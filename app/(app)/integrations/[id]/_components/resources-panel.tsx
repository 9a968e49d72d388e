"use client";
// Resources and resource templates of an integration: read a resource inline, or fill a template's
// variables and read the URI it expands to. Server strings are shown as text only.
import { useId, useState, type FormEvent } from "react";
import { Badge } from "@/components/ui";
import { readResourceAction } from "../resource-actions";
import { expandUriTemplate, templateVariables } from "./uri-template";
import { formatBytes } from "@/components/media";
import { ReadResult, useReader } from "@/components/resource-contents";

export type ResourceItem = {
  name: string;
  title: string | null;
  description: string | null;
  uri: string;
  mimeType: string | null;
  size: number | null;
  /** Annotation badges ("audience: user", "priority: 0.8"), as text. */
  notes: string[];
  /** When the last sync saw this entry change, formatted. */
  changed: string | null;
};
export type TemplateItem = {
  name: string;
  title: string | null;
  description: string | null;
  uriTemplate: string;
  mimeType: string | null;
  notes: string[];
  changed: string | null;
};

function Notes({ item }: { item: { notes: string[]; changed: string | null } }) {
  return (
    <>
      {item.notes.map((n) => (
        <Badge key={n} tone="sky">
          {n}
        </Badge>
      ))}
      {item.changed && <Badge tone="amber">changed {item.changed}</Badge>}
    </>
  );
}

function Reader({ reader }: { reader: ReturnType<typeof useReader> }) {
  const s = reader.state;
  if (!s) return null;
  return (
    <div className="mt-2 min-w-0 space-y-2" aria-live="polite">
      {s.busy && <p className="text-sm text-zinc-500">Reading…</p>}
      {s.error && (
        <p role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
          {s.error}
        </p>
      )}
      {s.contents && <ReadResult contents={s.contents} />}
      {!s.busy && (
        <button type="button" onClick={reader.clear} className="text-xs text-zinc-500 hover:underline">
          Close
        </button>
      )}
    </div>
  );
}

function ResourceRow({ integrationId, r }: { integrationId: string; r: ResourceItem }) {
  const reader = useReader((uri) => readResourceAction({ id: integrationId, uri }));
  return (
    <li className="min-w-0 py-3" data-testid="resource-item">
      <div className="flex flex-wrap items-center gap-x-2 gap-y-1">
        <span className="min-w-0 break-words text-sm font-medium">{r.title || r.name}</span>
        {r.title && r.title !== r.name && <span className="text-xs text-zinc-500">{r.name}</span>}
        {r.mimeType && <Badge>{r.mimeType}</Badge>}
        {r.size !== null && <span className="text-xs text-zinc-500">{formatBytes(r.size)}</span>}
        <Notes item={r} />
        <button
          type="button"
          onClick={() => void reader.run(r.uri)}
          disabled={reader.state?.busy}
          aria-label={`Read ${r.name}`}
          className="rounded-md border border-zinc-300 px-2 py-0.5 text-xs font-medium text-zinc-700 hover:bg-zinc-100 disabled:text-zinc-400"
        >
          Read
        </button>
      </div>
      <code className="mt-0.5 block break-all text-xs text-zinc-500">{r.uri}</code>
      {r.description && (
        <p className="mt-1 whitespace-pre-wrap break-words text-sm text-zinc-700">{r.description}</p>
      )}
      <Reader reader={reader} />
    </li>
  );
}

function TemplateRow({ integrationId, t }: { integrationId: string; t: TemplateItem }) {
  const vars = templateVariables(t.uriTemplate);
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const reader = useReader((uri) => readResourceAction({ id: integrationId, uri }));
  const formId = useId();
  const expanded = expandUriTemplate(t.uriTemplate, values);

  function submit(e: FormEvent) {
    e.preventDefault();
    const missing = vars.filter((v) => !values[v]?.trim());
    if (missing.length) return setError(`Fill in ${missing.join(", ")}.`);
    setError(undefined);
    void reader.run(expanded);
  }

  return (
    <li className="min-w-0 py-3" data-testid="template-item">
      <div className="flex flex-wrap items-center gap-x-2 gap-y-1">
        <span className="min-w-0 break-words text-sm font-medium">{t.title || t.name}</span>
        {t.mimeType && <Badge>{t.mimeType}</Badge>}
        <Notes item={t} />
      </div>
      <code className="mt-0.5 block break-all text-xs text-zinc-500">{t.uriTemplate}</code>
      {t.description && (
        <p className="mt-1 whitespace-pre-wrap break-words text-sm text-zinc-700">{t.description}</p>
      )}
      <form onSubmit={submit} className="mt-2 space-y-2" noValidate>
        {vars.length > 0 && (
          <div className="grid gap-2 sm:grid-cols-2">
            {vars.map((v) => (
              <label key={v} className="block min-w-0 text-sm">
                <span className="font-mono text-xs font-medium text-zinc-700">
                  {v} <span className="text-red-700">*</span>
                </span>
                <input
                  id={`${formId}-${v}`}
                  value={values[v] ?? ""}
                  onChange={(e) => {
                    setValues({ ...values, [v]: e.target.value });
                    setError(undefined);
                  }}
                  required
                  aria-invalid={error && !values[v]?.trim() ? true : undefined}
                  className="mt-1 block w-full rounded-md border border-zinc-300 px-2 py-1 text-sm"
                />
              </label>
            ))}
          </div>
        )}
        <div className="flex flex-wrap items-center gap-2">
          <button
            type="submit"
            disabled={reader.state?.busy}
            aria-label={`Read from ${t.name}`}
            className="rounded-md bg-zinc-900 px-3 py-1 text-xs font-medium text-white hover:bg-zinc-700 disabled:bg-zinc-400"
          >
            Read
          </button>
          <code className="min-w-0 break-all text-xs text-zinc-600" data-testid="expanded-uri">
            {expanded}
          </code>
        </div>
        {error && (
          <p role="alert" className="text-xs text-red-700">
            {error}
          </p>
        )}
      </form>
      <Reader reader={reader} />
    </li>
  );
}

export function ResourcesPanel({
  integrationId,
  resources,
}: {
  integrationId: string;
  resources: ResourceItem[];
}) {
  if (resources.length === 0)
    return <p className="text-sm text-zinc-500">This server lists no resources. Re-sync to check again.</p>;
  return (
    <ul className="divide-y divide-zinc-100" data-testid="resource-list">
      {resources.map((r) => (
        <ResourceRow key={r.uri} integrationId={integrationId} r={r} />
      ))}
    </ul>
  );
}

export function TemplatesPanel({
  integrationId,
  templates,
}: {
  integrationId: string;
  templates: TemplateItem[];
}) {
  if (templates.length === 0)
    return <p className="text-sm text-zinc-500">This server lists no resource templates.</p>;
  return (
    <ul className="divide-y divide-zinc-100" data-testid="template-list">
      {templates.map((t) => (
        <TemplateRow key={t.uriTemplate} integrationId={integrationId} t={t} />
      ))}
    </ul>
  );
}
