"use client";
import { useState } from "react";
import { setToolEnabledAction } from "../../actions";

export function ToolToggle({ id, tool, enabled }: { id: string; tool: string; enabled: boolean }) {
  const [on, setOn] = useState(enabled);
  const [pending, setPending] = useState(false);
  return (
    <label className="flex items-center gap-1.5 text-xs text-zinc-600">
      <input
        type="checkbox"
        aria-label={`Enable ${tool}`}
        checked={on}
        disabled={pending}
        onChange={async (e) => {
          const next = e.target.checked;
          setPending(true);
          const res = await setToolEnabledAction({ id, tool, enabled: next });
          setPending(false);
          if (res.ok) setOn(next);
          else alert(res.error);
        }}
      />
      enabled
    </label>
  );
}
