"use client";
// Changes which toolsets an existing token reaches, and its search mode on /api/mcp.
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Button } from "@/components/ui";
import { setTokenScopeAction } from "../actions";
import { ScopeFields, type ScopeValue, type ToolsetOption } from "./scope-fields";

export function TokenScopeEditor({
  id,
  name,
  toolsets,
  initial,
}: {
  id: string;
  name: string;
  toolsets: ToolsetOption[];
  initial: ScopeValue;
}) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [scope, setScope] = useState(initial);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  if (!open) {
    return (
      <Button
        type="button"
        variant="ghost"
        className="px-1.5 py-0.5 text-xs underline"
        aria-label={`Edit the scope of ${name}`}
        onClick={() => {
          setScope(initial);
          setOpen(true);
        }}
      >
        Edit scope
      </Button>
    );
  }
  return (
    <form
      aria-label={`Scope of ${name}`}
      className="mt-2 space-y-2 rounded-md border border-zinc-200 p-3"
      onSubmit={async (e) => {
        e.preventDefault();
        setPending(true);
        setError(undefined);
        const res = await setTokenScopeAction({
          id,
          toolsetIds: scope.toolsetIds,
          searchMode: scope.toolsetIds.length === 0 && scope.searchMode,
        });
        setPending(false);
        if (!res.ok) return setError(res.error);
        setOpen(false);
        router.refresh();
      }}
    >
      {error && <Alert>{error}</Alert>}
      <ScopeFields toolsets={toolsets} value={scope} onChange={setScope} />
      <div className="flex gap-2">
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : "Save scope"}
        </Button>
        <Button type="button" variant="secondary" onClick={() => setOpen(false)}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
