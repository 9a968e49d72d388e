"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { Alert, Badge, Button, Input } from "@/components/ui";
import type { InstallItem, InstallView } from "@/lib/kitchen/install";
import {
  cancelInstallAction,
  connectItemAction,
  skipItemAction,
  startInstallAction,
  submitApiKeyAction,
  syncInstallAction,
} from "../actions";
import { ItemHeader } from "./item-header";

const STATUS: Record<
  InstallItem["status"],
  { label: string; tone: "zinc" | "green" | "red" | "amber" | "sky" }
> = {
  not_started: { label: "not installed", tone: "zinc" },
  connected: { label: "connected", tone: "green" },
  skipped: { label: "skipped", tone: "zinc" },
  action: { label: "waiting for you", tone: "amber" },
  pending: { label: "connecting", tone: "sky" },
  error: { label: "error", tone: "red" },
};

type Result = { ok: true; data: unknown } | { ok: false; error: string };

export function InstallWizard({
  token,
  view,
  justConnected,
}: {
  token: string;
  view: InstallView;
  justConnected?: string;
}) {
  const router = useRouter();
  const [skip, setSkip] = useState<Set<string>>(new Set());
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<string>();

  // Coming back from an authorization: store the progress the integrations now show (a POST, not the GET).
  const stale = view.started && view.storedState !== (view.done ? "done" : "in_progress");
  useEffect(() => {
    if (stale) void syncInstallAction({ token });
  }, [stale, token]);

  async function run(key: string, fn: () => Promise<Result>) {
    setPending(key);
    setError(undefined);
    const res = await fn();
    setPending(null);
    if (!res.ok) setError(res.error);
    else {
      const data = res.data as { error?: string | null } | null;
      if (data && typeof data === "object" && data.error) setError(data.error);
    }
    router.refresh();
  }

  if (!view.started) {
    return (
      <div className="space-y-4 rounded-lg border border-zinc-200 bg-white p-5 shadow-sm">
        <h2 className="text-base font-semibold">What this installs ({view.items.length})</h2>
        <ul className="divide-y divide-zinc-100">
          {view.items.map((i) => (
            <li key={i.templateId} className="py-3" data-testid="preview-item">
              <ItemHeader item={i} />
              {i.status === "connected" && (
                <p className="mt-1 text-xs text-emerald-700">
                  You already have this integration; it will be reused.
                </p>
              )}
              {!i.required && (
                <label className="mt-2 flex items-center gap-2 text-sm">
                  <input
                    type="checkbox"
                    checked={!skip.has(i.templateId)}
                    onChange={(e) =>
                      setSkip((prev) => {
                        const next = new Set(prev);
                        if (e.target.checked) next.delete(i.templateId);
                        else next.add(i.templateId);
                        return next;
                      })
                    }
                  />
                  Install {i.name}
                </label>
              )}
            </li>
          ))}
        </ul>
        {error && <Alert>{error}</Alert>}
        <Button
          disabled={!!pending}
          onClick={() => run("install", () => startInstallAction({ token, skip: [...skip] }))}
        >
          {pending === "install" ? "Installing…" : "Install"}
        </Button>
      </div>
    );
  }

  const connected = view.items.filter((i) => i.status === "connected").length;
  const authorized = view.items.find((i) => i.integrationId && i.integrationId === justConnected);
  return (
    <div
      className="space-y-4 rounded-lg border border-zinc-200 bg-white p-5 shadow-sm"
      data-testid="install-wizard"
    >
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 className="text-base font-semibold">Install</h2>
        <span className="text-sm text-zinc-600" data-testid="install-progress">
          {connected} of {view.items.length} connected
        </span>
      </div>
      {view.done && (
        <Alert kind="success">
          <span data-testid="install-done">All set: every integration in this recipe is connected.</span>
        </Alert>
      )}
      {authorized?.status === "connected" && !view.done && (
        <Alert kind="success">
          {authorized.name} is authorized and connected. Continue with the next one.
        </Alert>
      )}
      {error && <Alert>{error}</Alert>}
      <ol className="space-y-3">
        {view.items.map((item, n) => (
          <li
            key={item.templateId}
            className={`rounded-md border p-3 ${item.templateId === view.nextTemplateId ? "border-zinc-900" : "border-zinc-200"}`}
            data-testid="install-item"
          >
            <div className="flex items-start gap-2">
              <span className="w-5 pt-0.5 text-sm text-zinc-500">{n + 1}.</span>
              <div className="flex-1">
                <ItemHeader item={item} />
              </div>
              <span data-testid="install-item-status">
                <Badge tone={STATUS[item.status].tone}>{STATUS[item.status].label}</Badge>
              </span>
            </div>
            <div className="mt-2 pl-7">
              <ItemAction token={token} item={item} busy={pending} run={run} />
            </div>
          </li>
        ))}
      </ol>
      {!view.done && (
        <div className="border-t border-zinc-100 pt-3 text-sm text-zinc-600">
          You can leave and come back to this link at any time to continue.{" "}
          <button
            type="button"
            className="underline"
            disabled={!!pending}
            onClick={() => {
              if (
                !confirm(
                  "Cancel this install? Integrations that never connected are removed; connected ones stay.",
                )
              )
                return;
              void run("cancel", () => cancelInstallAction({ token }));
            }}
          >
            Cancel install
          </button>
        </div>
      )}
    </div>
  );
}

function ItemAction({
  token,
  item,
  busy,
  run,
}: {
  token: string;
  item: InstallItem;
  busy: string | null;
  run: (key: string, fn: () => Promise<Result>) => Promise<void>;
}) {
  const [apiKey, setApiKey] = useState("");
  const [include, setInclude] = useState(false);
  const key = item.templateId;
  const input = { token, templateId: item.templateId };

  if (item.status === "connected") {
    return (
      <p className="text-sm text-zinc-700">
        {item.toolCount} tool{item.toolCount === 1 ? "" : "s"} available.{" "}
        {item.integrationId && (
          <Link className="underline" href={`/integrations/${item.integrationId}`}>
            Open {item.integrationName}
          </Link>
        )}
      </p>
    );
  }
  if (item.status === "skipped" && !include) {
    return (
      <button type="button" className="text-sm underline" onClick={() => setInclude(true)}>
        Install it after all
      </button>
    );
  }
  if (item.status === "pending") return <p className="text-sm text-zinc-600">Connecting…</p>;

  const skipButton = !item.required && item.status !== "skipped" && (
    <Button
      type="button"
      variant="ghost"
      disabled={!!busy}
      onClick={() => run(`skip-${key}`, () => skipItemAction(input))}
    >
      Skip
    </Button>
  );
  const message = item.error && (
    <p className="mb-2 text-sm text-red-700" data-testid="install-item-error">
      {item.error}
    </p>
  );

  if (item.authKind === "api_key") {
    return (
      <form
        className="space-y-2"
        onSubmit={(e) => {
          e.preventDefault();
          void run(key, () => submitApiKeyAction({ ...input, apiKey }));
        }}
      >
        {message}
        <div className="flex flex-wrap items-end gap-2">
          <div className="flex-1">
            <Input
              label={`Your API key for ${item.origin}`}
              type="password"
              autoComplete="off"
              value={apiKey}
              onChange={(e) => setApiKey(e.target.value)}
            />
          </div>
          <Button type="submit" disabled={!!busy || !apiKey.trim()}>
            {busy === key ? "Connecting…" : "Connect"}
          </Button>
          {skipButton}
        </div>
      </form>
    );
  }
  if (item.authKind === "oauth" && item.integrationId) {
    // A plain form post: the browser leaves for the provider's consent page and comes back through
    // /api/oauth/callback. `returnTo` asks for a return to this page (see the Kitchen notes on lib/oauth).
    return (
      <div>
        {message}
        <div className="flex flex-wrap items-center gap-2">
          <form method="post" action="/api/oauth/start">
            <input type="hidden" name="integrationId" value={item.integrationId} />
            <input type="hidden" name="returnTo" value={`/r/${token}`} />
            <Button type="submit" disabled={!!busy}>
              {item.reauthorize ? `Reconnect ${item.name}` : `Authorize ${item.name}`}
            </Button>
          </form>
          {skipButton}
        </div>
        <p className="mt-1 text-xs text-zinc-500">You will approve access on the provider&apos;s page.</p>
      </div>
    );
  }
  return (
    <div>
      {message}
      <div className="flex flex-wrap items-center gap-2">
        <Button type="button" disabled={!!busy} onClick={() => run(key, () => connectItemAction(input))}>
          {busy === key ? "Connecting…" : item.status === "error" ? "Try again" : "Connect"}
        </Button>
        {skipButton}
      </div>
    </div>
  );
}
