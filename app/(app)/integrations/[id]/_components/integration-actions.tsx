"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ConfirmButton } from "@/components/confirm-button";
import { Alert, Badge, Button } from "@/components/ui";
import { deleteIntegrationAction, disconnectAction, doctorAction, resyncAction } from "../../actions";

type Diff = { added: string[]; removed: string[]; changed: string[]; unchanged: number; toolCount: number };
type Step = {
  id: string;
  label: string;
  status: "ok" | "fail" | "skip" | "warn";
  detail: string;
  hint?: string;
};

const list = (names: string[]) =>
  names.length ? `: ${names.slice(0, 10).join(", ")}${names.length > 10 ? "…" : ""}` : "";

export function ResyncButton({ id }: { id: string }) {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  const [diff, setDiff] = useState<Diff>();
  const [error, setError] = useState<string>();
  return (
    <div className="space-y-2">
      <Button
        variant="secondary"
        disabled={pending}
        onClick={async () => {
          setPending(true);
          setError(undefined);
          setDiff(undefined);
          const res = await resyncAction({ id });
          setPending(false);
          if (res.ok) setDiff(res.data);
          else setError(res.error);
          router.refresh();
        }}
      >
        {pending ? "Re-syncing…" : "Re-sync"}
      </Button>
      {error && <Alert>{error}</Alert>}
      {diff && (
        <Alert kind="success">
          <span data-testid="sync-summary">
            {diff.toolCount} tools. {diff.added.length} added{list(diff.added)}; {diff.removed.length} removed
            {list(diff.removed)}; {diff.changed.length} changed{list(diff.changed)}.
          </span>
        </Alert>
      )}
    </div>
  );
}

const TONE = { ok: "green", fail: "red", skip: "zinc", warn: "amber" } as const;

export function DoctorPanel({ id }: { id: string }) {
  const [pending, setPending] = useState(false);
  const [steps, setSteps] = useState<Step[]>();
  const [error, setError] = useState<string>();
  return (
    <div className="space-y-3">
      <Button
        variant="secondary"
        disabled={pending}
        onClick={async () => {
          setPending(true);
          setError(undefined);
          const res = await doctorAction({ id });
          setPending(false);
          if (res.ok) setSteps(res.data as Step[]);
          else setError(res.error);
        }}
      >
        {pending ? "Diagnosing…" : "Run Doctor"}
      </Button>
      {error && <Alert>{error}</Alert>}
      {steps && (
        <ol className="space-y-2" data-testid="doctor-steps">
          {steps.map((s) => (
            <li
              key={s.id}
              className="rounded-md border border-zinc-200 p-2 text-sm"
              data-testid={`doctor-${s.id}`}
            >
              <div className="flex items-center gap-2">
                <Badge tone={TONE[s.status]}>{s.status}</Badge>
                <span className="font-medium">{s.label}</span>
                <span className="truncate text-zinc-600">{s.detail}</span>
              </div>
              {s.hint && <div className="mt-1 text-xs text-zinc-600">What to do: {s.hint}</div>}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

export function DeleteButton({ id, name }: { id: string; name: string }) {
  return (
    <ConfirmButton
      question={`Delete the integration "${name}" and its tools?`}
      action={() => deleteIntegrationAction({ id })}
      then="/integrations"
    >
      Delete
    </ConfirmButton>
  );
}

export function DisconnectButton({ id }: { id: string }) {
  return (
    <ConfirmButton
      question="Disconnect? Poke deletes its tokens for this server and asks the server to revoke them."
      action={() => disconnectAction({ id })}
    >
      Disconnect
    </ConfirmButton>
  );
}
