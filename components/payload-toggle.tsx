"use client";
// Per-integration opt-in to storing call arguments and results (secrets redacted, size-capped).
import { useState } from "react";
import { setStorePayloadsAction } from "@/app/(app)/activity/actions";

export function PayloadToggle({ id, name, enabled }: { id: string; name: string; enabled: boolean }) {
  const [on, setOn] = useState(enabled);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <span className="inline-flex flex-col">
      <label className="inline-flex items-center gap-1.5 text-xs text-zinc-600">
        <input
          type="checkbox"
          aria-label={`Store arguments and results of ${name}`}
          checked={on}
          disabled={pending}
          onChange={async (e) => {
            const next = e.target.checked;
            setOn(next); // optimistic; reverted if the server refuses
            setPending(true);
            setError(undefined);
            const res = await setStorePayloadsAction({ id, enabled: next });
            setPending(false);
            if (!res.ok) {
              setOn(!next);
              setError(res.error);
            }
          }}
        />
        store payloads
      </label>
      {error && (
        <span role="alert" className="text-xs text-red-700">
          {error}
        </span>
      )}
    </span>
  );
}
