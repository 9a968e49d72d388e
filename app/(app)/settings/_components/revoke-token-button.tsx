"use client";
import { ConfirmButton } from "@/components/confirm-button";
import { revokeTokenAction } from "../actions";

export function RevokeTokenButton({ id, name }: { id: string; name: string }) {
  return (
    <ConfirmButton
      ariaLabel={`Revoke ${name}`}
      question={`Revoke the token "${name}"? Anything using it stops working.`}
      action={() => revokeTokenAction({ id })}
    >
      Revoke
    </ConfirmButton>
  );
}
