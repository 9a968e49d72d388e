"use client";
import { ConfirmButton } from "@/components/confirm-button";
import { deleteToolsetAction } from "../actions";

export function DeleteToolsetButton({
  id,
  name,
  tokenCount,
}: {
  id: string;
  name: string;
  tokenCount: number;
}) {
  const tokens =
    tokenCount === 0
      ? ""
      : ` ${tokenCount === 1 ? "1 API token is" : `${tokenCount} API tokens are`} scoped to it: a token scoped to no other toolset is revoked.`;
  return (
    <ConfirmButton
      ariaLabel={`Delete ${name}`}
      question={`Delete the toolset "${name}"? Agents using its endpoint stop working.${tokens}`}
      action={() => deleteToolsetAction({ id })}
      then="/toolsets"
    >
      Delete
    </ConfirmButton>
  );
}
