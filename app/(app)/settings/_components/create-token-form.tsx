"use client";
import { useState } from "react";
import { CopyButton } from "@/components/copy-button";
import { Alert, Button, Input } from "@/components/ui";
import { createTokenAction } from "../actions";
import { ScopeFields, type ScopeValue, type ToolsetOption } from "./scope-fields";

const UNSCOPED: ScopeValue = { toolsetIds: [], searchMode: false };

export function CreateTokenForm({ toolsets }: { toolsets: ToolsetOption[] }) {
  const [created, setCreated] = useState<{ token: string; name: string }>();
  const [scope, setScope] = useState<ScopeValue>(UNSCOPED);
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    setPending(true);
    setError(undefined);
    const res = await createTokenAction({
      name: form.get("name"),
      expiresInDays: form.get("expiresInDays") || undefined,
      toolsetIds: scope.toolsetIds,
      searchMode: scope.toolsetIds.length === 0 && scope.searchMode,
    });
    setPending(false);
    if (!res.ok) return setError(res.error);
    setCreated(res.data);
    formEl.reset();
    setScope(UNSCOPED);
  }

  return (
    <div className="space-y-3">
      {error && <Alert>{error}</Alert>}
      {created && (
        <Alert kind="success">
          <div>
            New token <strong>{created.name}</strong> — copy it now, it will not be shown again:
          </div>
          <div className="mt-1 flex flex-wrap items-center gap-2">
            <code data-testid="new-token" className="min-w-0 flex-1 break-all font-mono text-xs">
              {created.token}
            </code>
            <CopyButton key={created.token} text={created.token} label="Copy token" />
          </div>
        </Alert>
      )}
      <form onSubmit={onSubmit} className="flex flex-wrap items-end gap-3" noValidate>
        <div className="w-full sm:w-64">
          <Input label="Token name" name="name" placeholder="e.g. laptop CLI" required />
        </div>
        <div className="w-40">
          <Input
            label="Expires in (days)"
            name="expiresInDays"
            type="number"
            min={0}
            max={3650}
            placeholder="never"
          />
        </div>
        <div className="w-full">
          <ScopeFields toolsets={toolsets} value={scope} onChange={setScope} />
        </div>
        <Button type="submit" disabled={pending}>
          {pending ? "Creating…" : "Create token"}
        </Button>
      </form>
    </div>
  );
}
