"use client";
import Link from "next/link";
import { useState } from "react";
import { Alert, Button, Input } from "@/components/ui";
import { NAME_PATTERN, NAME_RULE, checkName, normalizeServerUrl } from "@/lib/schemas/names";
import { createIntegrationAction } from "../actions";

type Outcome = Awaited<ReturnType<typeof createIntegrationAction>>;

export function AddIntegrationForm() {
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  // Checked as the person types (after the first character), with the same rule the server applies.
  const [nameError, setNameError] = useState<string>();
  const [typedUrl, setTypedUrl] = useState("");

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    setPending(true);
    setOutcome(undefined);
    const res = await createIntegrationAction({
      name: String(form.get("name") ?? ""),
      url: String(form.get("url") ?? ""),
      apiKey: String(form.get("apiKey") ?? ""),
    });
    setPending(false);
    setOutcome(res);
    if (res.ok) {
      formEl.reset();
      setTypedUrl("");
    }
  }

  const fieldErrors = outcome && !outcome.ok ? (outcome.fieldErrors ?? {}) : {};
  const normalized = normalizeServerUrl(typedUrl);
  return (
    <div className="space-y-4">
      <form
        onSubmit={onSubmit}
        className="grid gap-3 md:grid-cols-[1fr_2fr_1fr_auto] md:items-start"
        noValidate
      >
        <Input
          label="Name"
          name="name"
          placeholder="e.g. Linear"
          required
          maxLength={64}
          pattern={NAME_PATTERN}
          hint={`${NAME_RULE}.`}
          error={nameError ?? fieldErrors.name}
          onChange={(e) => {
            setNameError(checkName(e.target.value));
          }}
        />
        <Input
          label="MCP server URL"
          name="url"
          placeholder="https://example.com/mcp"
          required
          error={fieldErrors.url}
          onChange={(e) => setTypedUrl(e.target.value)}
          hint={
            normalized && normalized !== typedUrl.trim() ? (
              <span data-testid="normalized-url">Connects to {normalized}</span>
            ) : undefined
          }
        />
        <Input
          label="API key (optional)"
          name="apiKey"
          type="password"
          autoComplete="off"
          error={fieldErrors.apiKey}
        />
        <Button type="submit" disabled={pending} className="md:mt-6">
          {pending ? "Connecting…" : "Add integration"}
        </Button>
      </form>
      {pending && (
        <Alert kind="info">
          Connecting to the server, negotiating the protocol and discovering its tools…
        </Alert>
      )}
      {outcome && !outcome.ok && <Alert>{outcome.error}</Alert>}
      {outcome?.ok && <ConnectOutcome result={outcome.data} />}
    </div>
  );
}

function ConnectOutcome({ result }: { result: Extract<Outcome, { ok: true }>["data"] }) {
  const { integration, diff, error } = result;
  const link = (
    <Link className="font-medium underline" href={`/integrations/${integration.id}`}>
      Open {integration.name}
    </Link>
  );
  if (diff)
    return (
      <Alert kind="success">
        Connected to <strong>{integration.serverTitle ?? integration.serverName ?? integration.name}</strong>{" "}
        at{" "}
        <span className="break-all" data-testid="connected-url">
          {integration.url}
        </span>
        : {diff.toolCount} tools discovered. {link}
      </Alert>
    );
  if (integration.status === "needs_auth")
    return <Alert kind="warn">This server requires authorization (OAuth). {link} to authorize it.</Alert>;
  return (
    <Alert>
      Added <strong>{integration.name}</strong>, but connecting failed: {error?.message} {link} to run the
      Doctor.
    </Alert>
  );
}
