"use client";
// One tool's row: the switch moves at once (optimistic) and the row dims while the tool is disabled; if the
// server refuses, the switch returns to where it was and the row says why.
import { startTransition, useOptimistic, useState, type ReactNode } from "react";
import { setToolEnabledAction } from "../../actions";

export function ToolRow({
  id,
  tool,
  enabled,
  head,
  children,
}: {
  id: string;
  tool: string;
  enabled: boolean;
  /** Name, title and badges, on the row's first line. */
  head: ReactNode;
  children?: ReactNode;
}) {
  const [on, setOn] = useOptimistic(enabled);
  const [error, setError] = useState<string>();
  const toggle = (next: boolean) =>
    startTransition(async () => {
      setError(undefined);
      setOn(next);
      const res = await setToolEnabledAction({ id, tool, enabled: next });
      if (!res.ok) setError(`Could not ${next ? "enable" : "disable"} ${tool}: ${res.error}`);
    });
  return (
    <li className="py-3" data-testid="tool-item" data-enabled={on ? "true" : "false"}>
      <div className={on ? "" : "opacity-60"}>
        <div className="flex flex-wrap items-center gap-2">
          {head}
          <span className="ml-auto">
            <label className="flex items-center gap-1.5 text-xs text-zinc-600">
              <input
                type="checkbox"
                role="switch"
                aria-label={`Enable ${tool}`}
                checked={on}
                onChange={(e) => toggle(e.target.checked)}
                className="h-4 w-4"
              />
              <span data-testid="tool-state">{on ? "enabled" : "disabled"}</span>
            </label>
          </span>
        </div>
        {children}
      </div>
      {error && (
        <p role="alert" className="mt-1 text-xs text-red-700">
          {error}
        </p>
      )}
    </li>
  );
}
