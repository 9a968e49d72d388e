"use client";
// Copies a text to the clipboard and says so ("Copied"), or says that it could not (the text stays
// selectable beside it). Give it a `key` that changes with the text to reset it.
import { useState } from "react";
import { Button } from "@/components/ui";

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <Button
      type="button"
      variant="secondary"
      aria-live="polite"
      onClick={async () => {
        const ok = await (navigator.clipboard?.writeText(text) ?? Promise.reject()).then(
          () => true,
          () => false,
        );
        setState(ok ? "copied" : "failed");
      }}
    >
      {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select the text" : label}
    </Button>
  );
}
