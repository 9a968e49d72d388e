"use client";
import { ConfirmButton } from "@/components/confirm-button";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { Alert, Badge, Button, Input } from "@/components/ui";
import type { TemplateTestResult } from "@/lib/kitchen/probe";
import {
  createTemplateAction,
  deleteTemplateAction,
  testTemplateAction,
  updateTemplateAction,
} from "../actions";

export type TemplateFormValues = {
  name: string;
  slug: string;
  description: string;
  iconUrl: string;
  serverUrl: string;
  authKind: "none" | "api_key" | "oauth";
  clientId: string;
  scopes: string;
  issuer: string;
  resourceMode: "default" | "omit" | "override";
  resourceOverride: string;
  extraAuthParams: string;
  tokenEndpointAuthMethod: "" | "client_secret_basic" | "client_secret_post" | "none";
};

export const EMPTY_TEMPLATE: TemplateFormValues = {
  name: "",
  slug: "",
  description: "",
  iconUrl: "",
  serverUrl: "",
  authKind: "oauth",
  clientId: "",
  scopes: "",
  issuer: "",
  resourceMode: "default",
  resourceOverride: "",
  extraAuthParams: "",
  tokenEndpointAuthMethod: "",
};

const selectClass =
  "mt-1 block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-sm shadow-sm outline-none focus:border-zinc-500";

export function TemplateForm({
  id,
  initial,
  hasClientSecret = false,
  hasClientPrivateKey = false,
  clientPublicJwk = null,
}: {
  id?: string;
  initial: TemplateFormValues;
  hasClientSecret?: boolean;
  hasClientPrivateKey?: boolean;
  /** The stored private key's public half (JWK), shown for registering at the authorization server. */
  clientPublicJwk?: Record<string, string> | null;
}) {
  const router = useRouter();
  const [v, setV] = useState(initial);
  const [clientSecret, setClientSecret] = useState("");
  const [clearSecret, setClearSecret] = useState(false);
  const [clientPrivateKey, setClientPrivateKey] = useState("");
  const [clearKey, setClearKey] = useState(false);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<string>();
  const [testing, setTesting] = useState(false);
  const [test, setTest] = useState<TemplateTestResult>();
  const [testError, setTestError] = useState<string>();
  /** Editing a field clears its error, and the banner when it said the same thing. */
  const fixed = (k: string) => {
    const message = fieldErrors[k];
    if (!message) return;
    setFieldErrors((prev) => Object.fromEntries(Object.entries(prev).filter(([f]) => f !== k)));
    if (error === message) setError(undefined);
  };
  const set = <K extends keyof TemplateFormValues>(k: K, value: TemplateFormValues[K]) => {
    fixed(k);
    setV((prev) => ({ ...prev, [k]: value }));
  };
  const oauth = v.authKind === "oauth";

  async function save(e: React.FormEvent) {
    e.preventDefault();
    setPending(true);
    setError(undefined);
    setSaved(undefined);
    setFieldErrors({});
    const input = {
      ...v,
      clientSecret,
      clearClientSecret: clearSecret,
      clientPrivateKey,
      clearClientPrivateKey: clearKey,
    };
    const res = id ? await updateTemplateAction({ ...input, id }) : await createTemplateAction(input);
    setPending(false);
    if (!res.ok) {
      setError(res.error);
      setFieldErrors(res.fieldErrors ?? {});
      return;
    }
    setClientSecret("");
    setClearSecret(false);
    setClientPrivateKey("");
    setClearKey(false);
    if (!id && "id" in res.data) {
      router.push(`/kitchen/templates/${res.data.id}?created=1`);
      return;
    }
    if ("followed" in res.data) {
      const f = res.data.followed;
      setSaved(
        f.integrations
          ? `Saved. ${f.integrations} integration${f.integrations === 1 ? "" : "s"} updated: ${f.resynced} re-synced, ${f.reauthorize} must reconnect${f.keyCleared ? `, ${f.keyCleared} must re-enter their API key` : ""}.`
          : "Saved.",
      );
    }
    router.refresh();
  }

  async function runTest() {
    setTesting(true);
    setTest(undefined);
    setTestError(undefined);
    const res = await testTemplateAction({
      serverUrl: v.serverUrl,
      authKind: v.authKind,
      clientId: v.clientId,
      scopes: v.scopes,
      issuer: v.issuer,
      tokenEndpointAuthMethod: v.tokenEndpointAuthMethod,
    });
    setTesting(false);
    if (res.ok) setTest(res.data);
    else setTestError(res.error);
  }

  return (
    <form onSubmit={save} className="space-y-4" noValidate>
      <div className="grid gap-3 md:grid-cols-2">
        <Input
          label="Name"
          value={v.name}
          onChange={(e) => set("name", e.target.value)}
          error={fieldErrors.name}
        />
        <Input
          label="Slug (optional)"
          value={v.slug}
          onChange={(e) => set("slug", e.target.value)}
          hint="Lowercase letters, digits and dashes; derived from the name when empty."
          error={fieldErrors.slug}
        />
      </div>
      <label className="block text-sm">
        <span className="font-medium text-zinc-800">Description</span>
        <textarea
          className={selectClass}
          rows={2}
          value={v.description}
          onChange={(e) => set("description", e.target.value)}
        />
      </label>
      <Input
        label="Icon URL (optional)"
        value={v.iconUrl}
        onChange={(e) => set("iconUrl", e.target.value)}
        hint="https:// or a data:image/png;base64 URL."
        error={fieldErrors.iconUrl}
      />
      <Input
        label="MCP server URL"
        value={v.serverUrl}
        onChange={(e) => set("serverUrl", e.target.value)}
        placeholder="https://example.com/mcp"
        error={fieldErrors.serverUrl}
      />
      <label className="block text-sm">
        <span className="font-medium text-zinc-800">Authentication</span>
        <select
          className={selectClass}
          value={v.authKind}
          onChange={(e) => set("authKind", e.target.value as TemplateFormValues["authKind"])}
        >
          <option value="oauth">OAuth (client credentials below)</option>
          <option value="api_key">Each user enters an API key</option>
          <option value="none">No authentication</option>
        </select>
      </label>

      {oauth && (
        <fieldset className="space-y-3 rounded-md border border-zinc-200 p-4">
          <legend className="px-1 text-sm font-medium">OAuth client</legend>
          <Input
            label="Client ID"
            value={v.clientId}
            onChange={(e) => set("clientId", e.target.value)}
            hint="Leave empty when the server offers dynamic client registration."
            error={fieldErrors.clientId}
            autoComplete="off"
          />
          <div>
            <Input
              label={hasClientSecret ? "Replace client secret" : "Client secret"}
              type="password"
              autoComplete="new-password"
              value={clientSecret}
              onChange={(e) => {
                fixed("clientSecret");
                setClientSecret(e.target.value);
              }}
              placeholder={hasClientSecret ? "•••••• (set — leave empty to keep)" : ""}
              hint="Write-only: stored encrypted and never shown again."
              error={fieldErrors.clientSecret}
            />
            {hasClientSecret && (
              <div className="mt-1 flex items-center gap-3 text-xs">
                <span data-testid="secret-set">
                  <Badge tone="green">secret set</Badge>
                </span>
                <label className="flex items-center gap-1">
                  <input
                    type="checkbox"
                    checked={clearSecret}
                    onChange={(e) => setClearSecret(e.target.checked)}
                  />
                  Remove the stored secret
                </label>
              </div>
            )}
          </div>
          <div>
            <label className="block text-sm font-medium text-zinc-700">
              {hasClientPrivateKey ? "Replace private key" : "Private key (instead of a secret)"}
              <textarea
                name="clientPrivateKey"
                className={`${selectClass} font-mono text-xs`}
                rows={3}
                autoComplete="off"
                spellCheck={false}
                value={clientPrivateKey}
                onChange={(e) => {
                  fixed("clientPrivateKey");
                  setClientPrivateKey(e.target.value);
                }}
                placeholder={
                  hasClientPrivateKey
                    ? "(set — leave empty to keep)"
                    : "-----BEGIN PRIVATE KEY----- … or a private JWK (EC P-256 or RSA)"
                }
              />
            </label>
            <p className="mt-1 text-xs text-zinc-500">
              The client then authenticates with signed JWTs (private_key_jwt, ES256 or RS256). Write-only:
              stored encrypted; only its public half is shown.
            </p>
            {fieldErrors.clientPrivateKey && (
              <p className="mt-1 text-xs text-red-600">{fieldErrors.clientPrivateKey}</p>
            )}
            {hasClientPrivateKey && (
              <div className="mt-1 space-y-1 text-xs">
                <div className="flex items-center gap-3">
                  <span data-testid="key-set">
                    <Badge tone="green">private key set</Badge>
                  </span>
                  <label className="flex items-center gap-1">
                    <input
                      type="checkbox"
                      checked={clearKey}
                      onChange={(e) => setClearKey(e.target.checked)}
                    />
                    Remove the stored private key
                  </label>
                </div>
                {clientPublicJwk && (
                  <div>
                    <span className="text-zinc-600">Public key to register at the authorization server:</span>
                    <pre
                      data-testid="public-jwk"
                      className="mt-1 overflow-x-auto rounded bg-zinc-50 p-2 font-mono text-[11px]"
                    >
                      {JSON.stringify(clientPublicJwk, null, 2)}
                    </pre>
                  </div>
                )}
              </div>
            )}
          </div>
          <Input
            label="Scopes"
            value={v.scopes}
            onChange={(e) => set("scopes", e.target.value)}
            hint="Space-separated, e.g. read write offline_access."
            error={fieldErrors.scopes}
          />
          <Input
            label="Issuer the credentials are bound to"
            value={v.issuer}
            onChange={(e) => set("issuer", e.target.value)}
            hint="Filled by Test, or learned on first sign-in. The secret is never sent to another issuer."
            error={fieldErrors.issuer}
          />
          <details className="text-sm">
            <summary className="cursor-pointer text-zinc-700">Advanced</summary>
            <div className="mt-3 space-y-3">
              <label className="block text-sm">
                <span className="font-medium text-zinc-800">Token endpoint auth method</span>
                <select
                  className={selectClass}
                  value={v.tokenEndpointAuthMethod}
                  onChange={(e) =>
                    set(
                      "tokenEndpointAuthMethod",
                      e.target.value as TemplateFormValues["tokenEndpointAuthMethod"],
                    )
                  }
                >
                  <option value="">Automatic (what the server advertises)</option>
                  <option value="client_secret_basic">client_secret_basic</option>
                  <option value="client_secret_post">client_secret_post</option>
                  <option value="none">none (public client)</option>
                </select>
                {fieldErrors.tokenEndpointAuthMethod && (
                  <span className="mt-1 block text-xs text-red-700">
                    {fieldErrors.tokenEndpointAuthMethod}
                  </span>
                )}
              </label>
              <label className="block text-sm">
                <span className="font-medium text-zinc-800">Resource parameter (RFC 8707)</span>
                <select
                  className={selectClass}
                  value={v.resourceMode}
                  onChange={(e) => set("resourceMode", e.target.value as TemplateFormValues["resourceMode"])}
                >
                  <option value="default">Send the server&apos;s resource (default)</option>
                  <option value="omit">Omit (for providers that reject it)</option>
                  <option value="override">Override</option>
                </select>
              </label>
              {v.resourceMode === "override" && (
                <Input
                  label="Resource to send"
                  value={v.resourceOverride}
                  onChange={(e) => set("resourceOverride", e.target.value)}
                  error={fieldErrors.resourceOverride}
                />
              )}
              <label className="block text-sm">
                <span className="font-medium text-zinc-800">Extra authorization parameters</span>
                <textarea
                  className={`${selectClass} font-mono`}
                  rows={3}
                  placeholder={"access_type=offline\nprompt=consent"}
                  value={v.extraAuthParams}
                  onChange={(e) => set("extraAuthParams", e.target.value)}
                />
                <span className="mt-1 block text-xs text-zinc-500">One key=value per line.</span>
                {fieldErrors.extraAuthParams && (
                  <span className="mt-1 block text-xs text-red-700">{fieldErrors.extraAuthParams}</span>
                )}
              </label>
            </div>
          </details>
        </fieldset>
      )}

      {error && <Alert>{error}</Alert>}
      {saved && <Alert kind="success">{saved}</Alert>}
      <div className="flex flex-wrap gap-2">
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : id ? "Save template" : "Create template"}
        </Button>
        <Button type="button" variant="secondary" disabled={testing} onClick={runTest}>
          {testing ? "Testing…" : "Test"}
        </Button>
      </div>
      {testError && <Alert>{testError}</Alert>}
      {test && (
        <TestFindings result={test} onUseIssuer={(iss) => set("issuer", iss)} currentIssuer={v.issuer} />
      )}
    </form>
  );
}

const TONE = { ok: "green", fail: "red", warn: "amber", info: "sky", skip: "zinc" } as const;

function TestFindings({
  result,
  onUseIssuer,
  currentIssuer,
}: {
  result: TemplateTestResult;
  onUseIssuer: (issuer: string) => void;
  currentIssuer: string;
}) {
  const a = result.authorization;
  return (
    <div className="space-y-3 rounded-md border border-zinc-200 p-4 text-sm" data-testid="test-findings">
      <p className="text-xs text-zinc-500">Nothing was saved by this test.</p>
      <ul className="space-y-1">
        {result.checks.map((c) => (
          <li key={c.id} className="flex gap-2" data-testid={`check-${c.id}`}>
            <Badge tone={TONE[c.status]}>{c.status}</Badge>
            <span>{c.message}</span>
          </li>
        ))}
      </ul>
      {a && (
        <dl className="grid grid-cols-[12rem_1fr] gap-y-1" data-testid="as-findings">
          <dt className="text-zinc-500">Issuer</dt>
          <dd className="break-all">
            {a.issuer ?? "—"}{" "}
            {a.issuer && a.issuer !== currentIssuer && (
              <button type="button" className="ml-2 text-xs underline" onClick={() => onUseIssuer(a.issuer!)}>
                Use this issuer
              </button>
            )}
          </dd>
          <dt className="text-zinc-500">Authorization endpoint</dt>
          <dd className="break-all">{a.authorizationEndpoint ?? "—"}</dd>
          <dt className="text-zinc-500">Token endpoint</dt>
          <dd className="break-all">{a.tokenEndpoint ?? "—"}</dd>
          <dt className="text-zinc-500">Dynamic registration</dt>
          <dd data-testid="finding-dcr">
            {a.dynamicRegistration ? `yes (${a.registrationEndpoint})` : "no"}
          </dd>
          <dt className="text-zinc-500">PKCE S256</dt>
          <dd data-testid="finding-pkce">{a.pkceS256 ? "yes" : "no"}</dd>
          <dt className="text-zinc-500">Token auth methods</dt>
          <dd>{a.tokenEndpointAuthMethods.join(", ") || "—"}</dd>
          <dt className="text-zinc-500">Scopes supported</dt>
          <dd>{a.scopesSupported.join(" ") || "—"}</dd>
          <dt className="text-zinc-500">Resource</dt>
          <dd className="break-all">{a.resource ?? "—"}</dd>
        </dl>
      )}
      <details>
        <summary className="cursor-pointer text-xs text-zinc-600">Connection steps</summary>
        <ol className="mt-2 space-y-1">
          {result.doctor.map((s) => (
            <li key={s.id} className="flex gap-2">
              <Badge tone={TONE[s.status]}>{s.status}</Badge>
              <span className="font-medium">{s.label}</span>
              <span className="text-zinc-600">{s.detail}</span>
            </li>
          ))}
        </ol>
      </details>
    </div>
  );
}

export function DeleteTemplateButton({
  id,
  name,
  integrations,
}: {
  id: string;
  name: string;
  integrations: number;
}) {
  const warn = integrations
    ? ` ${integrations} integration${integrations === 1 ? "" : "s"} made from it stay with their owners but lose the template's credentials.`
    : "";
  return (
    <ConfirmButton
      question={`Delete the template "${name}"?${warn}`}
      action={() => deleteTemplateAction({ id })}
      then="/kitchen"
    >
      Delete template
    </ConfirmButton>
  );
}
