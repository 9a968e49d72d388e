"use client";
// Create or edit a toolset: name, description, the read-only and search-mode switches, and the selection —
// per integration, every tool (including tools a later sync adds) or some of its tools.
import { useRouter } from "next/navigation";
import { useId, useMemo, useState } from "react";
import { Alert, Badge, Button, Input } from "@/components/ui";
import { TOOLSET_DESCRIPTION_MAX } from "@/lib/schemas/toolsets";
import { createToolsetAction, updateToolsetAction } from "../actions";

export type ToolChoice = {
  name: string;
  title: string | null;
  description: string | null;
  enabled: boolean;
  readOnly: boolean;
};
export type IntegrationChoice = { id: string; name: string; status: string; tools: ToolChoice[] };
export type ToolsetFormValues = {
  id?: string;
  name: string;
  description: string;
  readOnly: boolean;
  searchMode: boolean;
  items: { integrationId: string; toolName: string }[];
};

/** Per integration: every tool, or the chosen tool names. Integrations not in the map are not chosen. */
type Selection = Map<string, "all" | Set<string>>;

function selectionOf(items: ToolsetFormValues["items"]): Selection {
  const sel: Selection = new Map();
  for (const { integrationId, toolName } of items) {
    const cur = sel.get(integrationId);
    if (toolName === "") sel.set(integrationId, "all");
    else if (cur === undefined) sel.set(integrationId, new Set([toolName]));
    else if (cur !== "all") cur.add(toolName);
  }
  return sel;
}

export function ToolsetForm({
  initial,
  integrations,
}: {
  initial: ToolsetFormValues;
  integrations: IntegrationChoice[];
}) {
  const router = useRouter();
  const [selection, setSelection] = useState<Selection>(() => selectionOf(initial.items));
  const [readOnly, setReadOnly] = useState(initial.readOnly);
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [pending, setPending] = useState(false);

  // Chosen tools a sync has since removed from their server: saving drops them.
  const vanished = useMemo(() => {
    const known = new Map(integrations.map((i) => [i.id, new Set(i.tools.map((t) => t.name))]));
    let n = 0;
    for (const [id, sel] of selection) {
      if (sel === "all") continue;
      for (const name of sel) if (!known.get(id)?.has(name)) n++;
    }
    return n;
  }, [integrations, selection]);

  const update = (id: string, next: "all" | Set<string> | undefined) =>
    setSelection((prev) => {
      const copy = new Map(prev);
      if (next === undefined || (next !== "all" && next.size === 0)) copy.delete(id);
      else copy.set(id, next);
      return copy;
    });

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const items: ToolsetFormValues["items"] = [];
    for (const integ of integrations) {
      const sel = selection.get(integ.id);
      if (sel === "all") items.push({ integrationId: integ.id, toolName: "" });
      else if (sel) {
        for (const t of integ.tools)
          if (sel.has(t.name)) items.push({ integrationId: integ.id, toolName: t.name });
      }
    }
    const values = {
      name: String(form.get("name") ?? ""),
      description: String(form.get("description") ?? ""),
      readOnly: form.get("readOnly") === "on",
      searchMode: form.get("searchMode") === "on",
      items,
    };
    setPending(true);
    setError(undefined);
    setFieldErrors({});
    const res = initial.id
      ? await updateToolsetAction({ id: initial.id, ...values })
      : await createToolsetAction(values);
    if (!res.ok) {
      setPending(false);
      setError(res.error);
      setFieldErrors(res.fieldErrors ?? {});
      return;
    }
    router.push(`/toolsets/${res.data.id}`);
    router.refresh();
  }

  const chosenCount = [...selection.values()].length;

  return (
    <form onSubmit={onSubmit} className="space-y-5" noValidate>
      {error && <Alert>{error}</Alert>}
      <div className="max-w-md">
        <Input
          label="Name"
          name="name"
          defaultValue={initial.name}
          placeholder="e.g. research-agent"
          required
          maxLength={64}
          autoComplete="off"
          hint="Letters, digits, dots, dashes and underscores: it is the last part of the endpoint's URL."
          error={fieldErrors.name}
        />
      </div>
      <label className="block max-w-2xl text-sm">
        <span className="font-medium text-zinc-800">Description</span>
        <textarea
          name="description"
          defaultValue={initial.description}
          maxLength={TOOLSET_DESCRIPTION_MAX}
          rows={3}
          className="mt-1 block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-sm shadow-sm outline-none focus:border-zinc-500 focus:ring-2 focus:ring-zinc-200"
        />
        <span className="mt-1 block text-xs text-zinc-500">
          Sent to the agent ahead of the integrations&apos; own instructions.
        </span>
        {fieldErrors.description && (
          <span className="mt-1 block text-xs text-red-700">{fieldErrors.description}</span>
        )}
      </label>
      <div className="space-y-2 text-sm">
        <label className="flex items-start gap-2">
          <input
            type="checkbox"
            name="readOnly"
            checked={readOnly}
            onChange={(e) => setReadOnly(e.target.checked)}
            className="mt-0.5"
          />
          <span>
            <span className="font-medium text-zinc-800">Read-only</span>
            <span className="block text-xs text-zinc-500">
              Only tools their server marks read-only (and never destructive) are offered or run.
            </span>
          </span>
        </label>
        <label className="flex items-start gap-2">
          <input type="checkbox" name="searchMode" defaultChecked={initial.searchMode} className="mt-0.5" />
          <span>
            <span className="font-medium text-zinc-800">Search mode</span>
            <span className="block text-xs text-zinc-500">
              The agent sees three tools — search, describe, call — instead of every tool: a small, constant
              context however many tools the toolset holds.
            </span>
          </span>
        </label>
      </div>

      <fieldset className="space-y-3">
        <legend className="text-sm font-medium text-zinc-800">Tools</legend>
        {integrations.length === 0 && (
          <p className="text-sm text-zinc-500">
            No integrations yet: add one on the Integrations page, then choose its tools here.
          </p>
        )}
        {vanished > 0 && (
          <Alert kind="warn">
            {vanished === 1 ? "1 chosen tool is" : `${vanished} chosen tools are`} no longer offered by its
            server; saving removes {vanished === 1 ? "it" : "them"} from the toolset.
          </Alert>
        )}
        {integrations.map((integ) => (
          <IntegrationTree
            key={integ.id}
            integ={integ}
            selected={selection.get(integ.id)}
            readOnly={readOnly}
            onChange={(next) => update(integ.id, next)}
          />
        ))}
      </fieldset>

      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : initial.id ? "Save toolset" : "Create toolset"}
        </Button>
        <span className="text-xs text-zinc-500" data-testid="selection-count">
          {chosenCount === 0
            ? "Nothing chosen yet: the toolset offers no tools."
            : `${chosenCount} integration${chosenCount === 1 ? "" : "s"} chosen`}
        </span>
      </div>
    </form>
  );
}

function IntegrationTree({
  integ,
  selected,
  readOnly,
  onChange,
}: {
  integ: IntegrationChoice;
  selected: "all" | Set<string> | undefined;
  readOnly: boolean;
  onChange: (next: "all" | Set<string> | undefined) => void;
}) {
  const uid = useId();
  const all = selected === "all";
  const some = selected !== undefined && selected !== "all" ? selected : undefined;
  return (
    <div role="group" aria-label={integ.name} className="rounded-md border border-zinc-200 p-3">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="min-w-0 break-words font-medium">{integ.name}</span>
        <span className="text-xs text-zinc-500">
          {integ.tools.length} tool{integ.tools.length === 1 ? "" : "s"}
        </span>
      </div>
      <label className="mt-2 flex items-start gap-2 text-sm">
        <input
          type="checkbox"
          checked={all}
          onChange={(e) => onChange(e.target.checked ? "all" : undefined)}
          className="mt-0.5"
        />
        <span>All tools of {integ.name}, including future ones</span>
      </label>
      {integ.tools.length > 0 && (
        <ul className="mt-2 space-y-1.5 border-l border-zinc-200 pl-3 sm:ml-1.5 sm:pl-5">
          {integ.tools.map((t, n) => {
            const descId = `${uid}-${n}`;
            const leftOut = readOnly && !t.readOnly;
            return (
              <li key={t.name} className="text-sm">
                <label className="flex items-start gap-2">
                  <input
                    type="checkbox"
                    aria-label={t.name}
                    aria-describedby={descId}
                    checked={all || !!some?.has(t.name)}
                    disabled={all}
                    onChange={(e) => {
                      const next = new Set(some);
                      if (e.target.checked) next.add(t.name);
                      else next.delete(t.name);
                      onChange(next);
                    }}
                    className="mt-0.5"
                  />
                  <span className="min-w-0">
                    <code className="break-all">{t.name}</code>
                    {!t.enabled && (
                      <>
                        {" "}
                        <Badge>turned off</Badge>
                      </>
                    )}
                    {leftOut && (
                      <>
                        {" "}
                        <Badge tone="amber">not read-only: left out</Badge>
                      </>
                    )}
                    <span id={descId} className="block break-words text-xs text-zinc-500">
                      {[t.title, t.description].filter(Boolean).join(" — ").slice(0, 300)}
                    </span>
                  </span>
                </label>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
