"use client";
// Prompts of an integration: a form from each prompt's arguments (required ones marked), then the messages
// `prompts/get` returns, each with its role and content rendered as data.
import { useState, type FormEvent } from "react";
import { Badge } from "@/components/ui";
import { getPromptAction, readResourceAction } from "../resource-actions";
import { PromptContentView, ReadResult, useReader, type PromptContent } from "@/components/resource-contents";

export type PromptItem = {
  name: string;
  title: string | null;
  description: string | null;
  arguments: { name: string; description?: string | null; required?: boolean | null }[];
  changed: string | null;
};

type Message = { role?: unknown; content?: unknown };

function PromptRow({ integrationId, p }: { integrationId: string; p: PromptItem }) {
  const [open, setOpen] = useState(false);
  const [values, setValues] = useState<Record<string, string>>({});
  const [missing, setMissing] = useState<string[]>([]);
  const [state, setState] = useState<{
    busy: boolean;
    error?: string;
    messages?: Message[];
    description?: string;
  }>({
    busy: false,
  });
  const reader = useReader((uri) => readResourceAction({ id: integrationId, uri }));

  async function submit(e: FormEvent) {
    e.preventDefault();
    const lacking = p.arguments.filter((a) => a.required && !values[a.name]?.trim()).map((a) => a.name);
    setMissing(lacking);
    if (lacking.length) return;
    const args = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ""));
    setState({ busy: true });
    const res = await getPromptAction({ id: integrationId, name: p.name, arguments: args });
    if (!res.ok) return setState({ busy: false, error: res.error });
    const data = res.data as { messages?: unknown; description?: unknown };
    setState({
      busy: false,
      messages: Array.isArray(data.messages) ? (data.messages as Message[]) : [],
      description: typeof data.description === "string" ? data.description : undefined,
    });
  }

  return (
    <li className="min-w-0 py-3" data-testid="prompt-item">
      <div className="flex flex-wrap items-center gap-x-2 gap-y-1">
        <span className="min-w-0 break-all font-mono text-sm font-medium">{p.name}</span>
        {p.title && <span className="text-sm text-zinc-600">{p.title}</span>}
        {p.arguments.length > 0 && (
          <span className="text-xs text-zinc-500">
            {p.arguments.length} argument{p.arguments.length === 1 ? "" : "s"}
          </span>
        )}
        {p.changed && <Badge tone="amber">changed {p.changed}</Badge>}
        <button
          type="button"
          onClick={() => setOpen(!open)}
          aria-expanded={open}
          aria-label={`${open ? "Hide" : "Get"} ${p.name}`}
          className="rounded-md border border-zinc-300 px-2 py-0.5 text-xs font-medium text-zinc-700 hover:bg-zinc-100"
        >
          {open ? "Hide" : "Get"}
        </button>
      </div>
      {p.description && (
        <p className="mt-1 whitespace-pre-wrap break-words text-sm text-zinc-700">{p.description}</p>
      )}
      {open && (
        <form onSubmit={submit} className="mt-2 space-y-2" noValidate aria-label={`Arguments of ${p.name}`}>
          {p.arguments.length > 0 && (
            <div className="grid gap-2 sm:grid-cols-2">
              {p.arguments.map((a) => (
                <label key={a.name} className="block min-w-0 text-sm">
                  <span className="font-mono text-xs font-medium text-zinc-700">
                    {a.name}
                    {a.required && (
                      <span className="text-red-700" title="required">
                        {" "}
                        *
                      </span>
                    )}
                  </span>
                  <input
                    value={values[a.name] ?? ""}
                    onChange={(e) => {
                      setValues({ ...values, [a.name]: e.target.value });
                      setMissing(missing.filter((m) => m !== a.name));
                    }}
                    required={!!a.required}
                    aria-invalid={missing.includes(a.name) ? true : undefined}
                    className="mt-1 block w-full rounded-md border border-zinc-300 px-2 py-1 text-sm"
                  />
                  {missing.includes(a.name) ? (
                    <span className="mt-0.5 block text-xs text-red-700">{a.name} is required</span>
                  ) : (
                    a.description && (
                      <span className="mt-0.5 block break-words text-xs text-zinc-500">{a.description}</span>
                    )
                  )}
                </label>
              ))}
            </div>
          )}
          <button
            type="submit"
            disabled={state.busy}
            className="rounded-md bg-zinc-900 px-3 py-1 text-xs font-medium text-white hover:bg-zinc-700 disabled:bg-zinc-400"
          >
            {state.busy ? "Getting…" : `Get ${p.name}`}
          </button>
        </form>
      )}
      {open && state.error && (
        <p
          role="alert"
          className="mt-2 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800"
        >
          {state.error}
        </p>
      )}
      {open && state.messages && (
        <div className="mt-2 space-y-2" data-testid="prompt-result" aria-live="polite">
          {state.description && <p className="text-sm text-zinc-600">{state.description}</p>}
          {state.messages.length === 0 && (
            <p className="text-sm text-zinc-500">The prompt has no messages.</p>
          )}
          {state.messages.map((m, i) => (
            <div key={i} className="min-w-0 space-y-1" data-testid="prompt-message">
              <Badge tone={m.role === "assistant" ? "sky" : "zinc"}>{String(m.role ?? "?")}</Badge>
              <PromptContentView
                c={(m.content ?? {}) as PromptContent}
                onReadLink={(uri) => void reader.run(uri)}
              />
            </div>
          ))}
          {reader.state?.busy && <p className="text-sm text-zinc-500">Reading…</p>}
          {reader.state?.error && (
            <p role="alert" className="text-sm text-red-700">
              {reader.state.error}
            </p>
          )}
          {reader.state?.contents && <ReadResult contents={reader.state.contents} />}
        </div>
      )}
    </li>
  );
}

export function PromptsPanel({ integrationId, prompts }: { integrationId: string; prompts: PromptItem[] }) {
  if (prompts.length === 0)
    return <p className="text-sm text-zinc-500">This server lists no prompts. Re-sync to check again.</p>;
  return (
    <ul className="divide-y divide-zinc-100" data-testid="prompt-list">
      {prompts.map((p) => (
        <PromptRow key={p.name} integrationId={integrationId} p={p} />
      ))}
    </ul>
  );
}
