"use client";
import { useState } from "react";
import { Button } from "@/components/ui";
import { setRoleAction } from "../actions";

export function RoleButton({
  userId,
  email,
  role,
}: {
  userId: string;
  email: string;
  role: "user" | "admin";
}) {
  const [pending, setPending] = useState(false);
  const next = role === "admin" ? "user" : "admin";
  return (
    <Button
      variant="secondary"
      disabled={pending}
      aria-label={`${next === "admin" ? "Make admin" : "Remove admin"}: ${email}`}
      onClick={async () => {
        setPending(true);
        const res = await setRoleAction({ userId, role: next });
        setPending(false);
        if (!res.ok) alert(res.error);
      }}
    >
      {next === "admin" ? "Make admin" : "Remove admin"}
    </Button>
  );
}
