"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type ReactNode } from "react";
import { ConfirmButton } from "@/components/confirm-button";
import { Alert, Badge, Button } from "@/components/ui";
import { deleteIntegrationAction, disconnectAction, doctorAction, resyncAction } from "../../actions";
import { EditDialog } from "./edit-form";

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

/**
 * The integration's header: its title (server-rendered children), the actions in one row, the Re-sync or
 * Edit outcome in its own region below, and the Edit dialog.
 */
export function IntegrationHeader({
  children,
  id,
  name,
  url,
  hasApiKey,
  fromTemplate,
  playground,
}: {
  children: ReactNode;
  id: string;
  name: string;
  url: string;
  hasApiKey: boolean;
  fromTemplate: boolean;
  /** The playground's address, when the server has tools to try. */
  playground?: string;
}) {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  const [editing, setEditing] = useState(false);
  const [outcome, setOutcome] = useState<
    { kind: "diff"; diff: Diff } | { kind: "error"; text: string } | { kind: "saved"; text: string }
  >();
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div className="min-w-0">{children}</div>
        <div className="flex flex-wrap items-start gap-2">
          {playground && (
            <Link
              href={playground}
              className="inline-flex items-center rounded-md bg-zinc-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-zinc-700"
            >
              Playground
            </Link>
          )}
          <Button
            variant="secondary"
            disabled={pending}
            onClick={async () => {
              setPending(true);
              setOutcome(undefined);
              const res = await resyncAction({ id });
              setPending(false);
              setOutcome(res.ok ? { kind: "diff", diff: res.data } : { kind: "error", text: res.error });
              router.refresh();
            }}
          >
            {pending ? "Re-syncing…" : "Re-sync"}
          </Button>
          <Button variant="secondary" aria-haspopup="dialog" onClick={() => setEditing(true)}>
            Edit
          </Button>
          <DeleteButton id={id} name={name} />
        </div>
      </div>
      <div aria-live="polite" data-testid="header-outcome">
        {outcome?.kind === "error" && <Alert>{outcome.text}</Alert>}
        {outcome?.kind === "saved" && <Alert kind="success">{outcome.text}</Alert>}
        {outcome?.kind === "diff" && (
          <Alert kind="success">
            <span data-testid="sync-summary">
              {outcome.diff.toolCount} tools. {outcome.diff.added.length} added{list(outcome.diff.added)};{" "}
              {outcome.diff.removed.length} removed
              {list(outcome.diff.removed)}; {outcome.diff.changed.length} changed{list(outcome.diff.changed)}.
            </span>
          </Alert>
        )}
      </div>
      <EditDialog
        id={id}
        name={name}
        url={url}
        hasApiKey={hasApiKey}
        fromTemplate={fromTemplate}
        open={editing}
        onClose={() => setEditing(false)}
        onSaved={(text) => {
          setEditing(false);
          setOutcome({ kind: "saved", text });
        }}
      />
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
              <div className="flex flex-wrap items-baseline gap-x-2 gap-y-1">
                <Badge tone={TONE[s.status]}>{s.status}</Badge>
                <span className="font-medium">{s.label}</span>
                <span className="min-w-0 break-words text-zinc-600" data-testid="doctor-detail">
                  {s.detail}
                </span>
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
