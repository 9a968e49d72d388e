"use client";
// A token's scope: the whole /api/mcp endpoint (optionally in search mode) or only some toolsets.
import { useId } from "react";

export type ScopeValue = { toolsetIds: string[]; searchMode: boolean };
export type ToolsetOption = { id: string; name: string; searchMode: boolean };

export function ScopeFields({
  toolsets,
  value,
  onChange,
}: {
  toolsets: ToolsetOption[];
  value: ScopeValue;
  onChange: (next: ScopeValue) => void;
}) {
  const uid = useId();
  const scoped = value.toolsetIds.length > 0;
  const toggle = (id: string, on: boolean) =>
    onChange({
      ...value,
      toolsetIds: on ? [...value.toolsetIds, id] : value.toolsetIds.filter((x) => x !== id),
    });
  return (
    <fieldset className="space-y-2 text-sm">
      <legend className="font-medium text-zinc-800">Scope</legend>
      {toolsets.length === 0 ? (
        <p className="text-xs text-zinc-500">
          All tools through <code>/api/mcp</code>. Create a toolset to give a token only some tools.
        </p>
      ) : (
        <div className="space-y-1" role="group" aria-labelledby={`${uid}-only`}>
          <p id={`${uid}-only`} className="text-xs text-zinc-500">
            Only these toolsets (none chosen: all tools through <code>/api/mcp</code>):
          </p>
          <div className="flex flex-wrap gap-x-4 gap-y-1">
            {toolsets.map((t) => (
              <label key={t.id} className="flex min-w-0 items-center gap-1.5">
                <input
                  type="checkbox"
                  checked={value.toolsetIds.includes(t.id)}
                  onChange={(e) => toggle(t.id, e.target.checked)}
                />
                <span className="break-all">{t.name}</span>
              </label>
            ))}
          </div>
        </div>
      )}
      <label className="flex items-start gap-2">
        <input
          type="checkbox"
          checked={value.searchMode && !scoped}
          disabled={scoped}
          onChange={(e) => onChange({ ...value, searchMode: e.target.checked })}
          className="mt-0.5"
        />
        <span>
          Search mode on <code>/api/mcp</code>
          <span className="block text-xs text-zinc-500">
            {scoped
              ? "A scoped token uses each toolset's own mode."
              : "The agent sees three tools (search, describe, call) instead of every tool."}
          </span>
        </span>
      </label>
    </fieldset>
  );
}
