"use client";
import { useState } from "react";
import { Button } from "@/components/ui";
import { revokeTokenAction } from "../actions";

export function RevokeTokenButton({ id, name }: { id: string; name: string }) {
  const [pending, setPending] = useState(false);
  return (
    <Button
      variant="danger"
      disabled={pending}
      aria-label={`Revoke ${name}`}
      onClick={async () => {
        if (!confirm(`Revoke the token "${name}"? Anything using it stops working.`)) return;
        setPending(true);
        const res = await revokeTokenAction({ id });
        setPending(false);
        if (!res.ok) alert(res.error);
      }}
    >
      Revoke
    </Button>
  );
}
