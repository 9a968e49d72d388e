"use client";
// A button for a destructive server action: asks first, shows progress and the action's error, then
// goes to `then` or refreshes the page.
import { useRouter } from "next/navigation";
import { useState, type ReactNode } from "react";
import { Alert, Button } from "@/components/ui";
import type { ActionResult } from "@/lib/actions";

export function ConfirmButton({
  children,
  question,
  action,
  then,
  ariaLabel,
}: {
  children: ReactNode;
  question: string;
  action: () => Promise<ActionResult<unknown>>;
  then?: string;
  ariaLabel?: string;
}) {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  // One inline box: the button keeps its size in a row of buttons, the error shows under it.
  return (
    <span className="inline-flex max-w-full flex-col items-start gap-2">
      <Button
        variant="danger"
        disabled={pending}
        aria-label={ariaLabel}
        onClick={async () => {
          if (!confirm(question)) return;
          setPending(true);
          setError(undefined);
          const res = await action();
          if (res.ok && then) return router.push(then);
          setPending(false);
          if (res.ok) router.refresh();
          else setError(res.error);
        }}
      >
        {children}
      </Button>
      {error && <Alert>{error}</Alert>}
    </span>
  );
}
