// Kitchen templates: an MCP server URL plus how its users authenticate (none, per-user API key, or OAuth
// with admin-supplied client credentials). Admin only. The client secret is write-only: encrypted with AAD
// naming its row, never returned by any function here (views carry `hasClientSecret`).
import "server-only";
import { aad, decryptField } from "@/lib/crypto";
import { audit } from "@/lib/data/audit";
import {
  applyFollow,
  assertTemplateNameFree,
  deleteTemplateRow,
  fieldError,
  findTemplates,
  insertTemplate,
  integrationsOfTemplate,
  templateChoices as findTemplateChoices,
  updateTemplateRow,
  type FollowRow,
  type SecretChange,
  type TemplateColumns,
  type TemplateRow,
} from "@/lib/data/kitchen";
import { isAppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";
import { assertAdmin, originOf, type Actor } from "@/lib/kitchen/admin";
import { dropSession } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { validateUserUrl } from "@/lib/net/egress";
import { parseClientPrivateKey, publicJwkOfStored, type ClientKey } from "@/lib/oauth/client-key";
import { assertSafeOAuthUrl } from "@/lib/oauth/net";
import { slugify, templateInputSchema, type TemplateInput, type TemplateParsed } from "@/lib/schemas/kitchen";

function present({ clientSecretEnc, clientPrivateKeyEnc, extraAuthParams, ...row }: TemplateRow) {
  return {
    ...row,
    origin: originOf(row.serverUrl),
    hasClientSecret: !!clientSecretEnc,
    hasClientPrivateKey: !!clientPrivateKeyEnc,
    /** The public half of the private key, to register at the authorization server (never the key). */
    clientPublicJwk: publicJwkOfTemplate(row.id, clientPrivateKeyEnc, row.clientKeyAlg),
    extraAuthParams: stringRecord(extraAuthParams),
  };
}
export type TemplateView = ReturnType<typeof present>;
export type TemplateListItem = TemplateView & {
  integrationCount: number;
  recipes: { id: string; name: string }[];
};

function publicJwkOfTemplate(id: string, enc: string | null, alg: string | null) {
  if (!enc || !alg) return null;
  try {
    return publicJwkOfStored(decryptField(enc, aad("Template", "clientPrivateKeyEnc", id)), alg) ?? null;
  } catch {
    return null;
  }
}

function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== "object" || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string"));
}

export async function listTemplates(actor: Actor): Promise<TemplateListItem[]> {
  await assertAdmin(actor);
  return (await findTemplates()).map(({ row, ...r }) => ({ ...present(row), ...r }));
}

export async function getTemplate(actor: Actor, id: string): Promise<TemplateListItem> {
  await assertAdmin(actor);
  const [t] = await findTemplates(id);
  if (!t) throw notFound("Template not found");
  return { ...present(t.row), integrationCount: t.integrationCount, recipes: t.recipes };
}

// ---------------------------------------------------------------------------------------------------------
// Validation beyond the schema: URL policy, credential consistency

function safeOAuthUrl(raw: string, field: string, what: string): string {
  try {
    return assertSafeOAuthUrl(raw, what).href;
  } catch {
    throw fieldError(
      field,
      `The ${what} must be an https:// URL without user name or password (http only for localhost in development).`,
    );
  }
}

/**
 * Normalizes and checks a parsed input against the stored row (for the secret rules). Non-OAuth templates
 * carry no OAuth settings at all, so switching a template away from OAuth drops its credentials.
 */
function normalize(
  p: TemplateParsed,
  current: Pick<TemplateRow, "clientSecretEnc" | "clientPrivateKeyEnc" | "clientKeyAlg"> | null,
): { data: TemplateColumns; secret: SecretChange; key: SecretChange } {
  let serverUrl: string;
  try {
    serverUrl = validateUserUrl(p.serverUrl).href;
  } catch (e) {
    throw fieldError("serverUrl", isAppError(e) ? e.message : "That is not a valid URL.");
  }
  const base = {
    name: p.name,
    slug: p.slug ?? slugify(p.name),
    description: p.description,
    iconUrl: p.iconUrl,
    serverUrl,
    authKind: p.authKind,
  };
  if (p.authKind !== "oauth") {
    return {
      data: {
        ...base,
        clientId: null,
        scopes: null,
        issuer: null,
        resourceMode: "default",
        resourceOverride: null,
        extraAuthParams: {},
        tokenEndpointAuthMethod: null,
        clientKeyAlg: null,
      },
      secret: current?.clientSecretEnc ? "clear" : "keep",
      key: current?.clientPrivateKeyEnc ? "clear" : "keep",
    };
  }
  const secret: SecretChange = p.clientSecret
    ? { set: p.clientSecret }
    : p.clearClientSecret || !p.clientId
      ? current?.clientSecretEnc
        ? "clear"
        : "keep"
      : "keep";
  const willHaveSecret = typeof secret === "object" || (secret === "keep" && !!current?.clientSecretEnc);
  if (p.clientSecret && !p.clientId) {
    throw fieldError("clientId", "A client secret needs a client ID: enter the client ID too.");
  }
  // private_key_jwt (docs/oauth.md): the key is read and normalized here; what is stored is PKCS#8 PEM.
  let parsedKey: ClientKey | undefined;
  if (p.clientPrivateKey) {
    try {
      parsedKey = parseClientPrivateKey(p.clientPrivateKey);
    } catch (e) {
      throw fieldError("clientPrivateKey", isAppError(e) ? e.message : "The private key could not be read.");
    }
    if (!p.clientId)
      throw fieldError("clientId", "A private key needs a client ID: enter the client ID too.");
  }
  const key: SecretChange = parsedKey
    ? { set: parsedKey.pem }
    : p.clearClientPrivateKey || !p.clientId
      ? current?.clientPrivateKeyEnc
        ? "clear"
        : "keep"
      : "keep";
  const willHaveKey = typeof key === "object" || (key === "keep" && !!current?.clientPrivateKeyEnc);
  if (willHaveKey && willHaveSecret) {
    throw fieldError(
      "clientPrivateKey",
      "A client authenticates with a secret or with a private key, not both: remove one of them.",
    );
  }
  const method = p.tokenEndpointAuthMethod;
  if (willHaveKey && method) {
    throw fieldError(
      "tokenEndpointAuthMethod",
      "A private key signs the client's assertions (private_key_jwt): leave the method empty.",
    );
  }
  if ((method === "client_secret_basic" || method === "client_secret_post") && !willHaveSecret) {
    throw fieldError("clientSecret", `${method} needs a client secret: enter it, or choose "none".`);
  }
  if (method === "none" && willHaveSecret) {
    throw fieldError(
      "tokenEndpointAuthMethod",
      'A public client ("none") sends no secret: remove the secret or choose client_secret_basic/post.',
    );
  }
  if (method && !p.clientId) {
    throw fieldError("tokenEndpointAuthMethod", "The token endpoint auth method needs a client ID.");
  }
  if (p.resourceMode === "override" && !p.resourceOverride) {
    throw fieldError("resourceOverride", "Enter the resource to send, or choose another resource mode.");
  }
  // Issuers are compared as strings by the OAuth client: stored exactly as the admin gave it, once checked.
  if (p.issuer) safeOAuthUrl(p.issuer, "issuer", "issuer");
  return {
    data: {
      ...base,
      clientId: p.clientId,
      scopes: p.scopes,
      issuer: p.issuer || null,
      resourceMode: p.resourceMode,
      resourceOverride:
        p.resourceMode === "override" && p.resourceOverride
          ? safeOAuthUrl(p.resourceOverride, "resourceOverride", "resource override")
          : null,
      extraAuthParams: p.extraAuthParams,
      tokenEndpointAuthMethod: method ?? null,
      clientKeyAlg: parsedKey ? parsedKey.alg : willHaveKey ? (current?.clientKeyAlg ?? null) : null,
    },
    secret,
    key,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Create / update / delete

export async function createTemplate(actor: Actor, input: TemplateInput): Promise<TemplateView> {
  await assertAdmin(actor);
  const { data, secret, key } = normalize(templateInputSchema.parse(input), null);
  await assertTemplateNameFree(data.name, data.slug);
  const row = await insertTemplate(data, secret, actor.id, key);
  await audit(
    actor.id,
    "kitchen.template.create",
    { type: "template", id: row.id },
    {
      name: data.name,
      origin: originOf(data.serverUrl),
      authKind: data.authKind,
      hasClientSecret: typeof secret === "object",
      hasClientPrivateKey: typeof key === "object",
    },
  );
  return present(row);
}

/** What an update did to the integrations made from the template. */
export type FollowSummary = {
  integrations: number;
  resynced: number;
  reauthorize: number;
  keyCleared: number;
};
export type TemplateUpdateResult = { template: TemplateView; followed: FollowSummary };

const CREDENTIAL_FIELDS = ["clientId", "tokenEndpointAuthMethod", "issuer", "authKind"] as const;

export async function updateTemplate(
  actor: Actor,
  id: string,
  input: TemplateInput,
): Promise<TemplateUpdateResult> {
  await assertAdmin(actor);
  const parsed = templateInputSchema.parse(input);
  const current = (await findTemplates(id))[0]?.row;
  if (!current) throw notFound("Template not found");
  const { data: next, secret, key } = normalize(parsed, current);
  await assertTemplateNameFree(next.name, next.slug, id);

  const changed = (Object.keys(next) as (keyof typeof next)[]).filter(
    (k) =>
      JSON.stringify(next[k] ?? null) !== JSON.stringify((current as Record<string, unknown>)[k] ?? null),
  );
  const secretChanged = secret !== "keep" || key !== "keep";
  const urlChanged = changed.includes("serverUrl");
  const credentialsChanged = secretChanged || CREDENTIAL_FIELDS.some((f) => changed.includes(f));

  const row = await updateTemplateRow(id, next, secret, urlChanged || credentialsChanged, key);
  await audit(
    actor.id,
    "kitchen.template.update",
    { type: "template", id },
    {
      fields: [...changed, ...(secretChanged ? ["clientSecret"] : [])],
      ...(urlChanged ? { origin: originOf(next.serverUrl) } : {}),
    },
  );
  const followed = await followTemplate(actor, current, row, { urlChanged, credentialsChanged });
  return { template: present(row), followed };
}

export async function deleteTemplate(actor: Actor, id: string): Promise<{ detached: number }> {
  await assertAdmin(actor);
  const { name, detached, oauth } = await deleteTemplateRow(id);
  for (const i of oauth) await dropSession(i.userId, i.id).catch(() => {});
  await audit(actor.id, "kitchen.template.delete", { type: "template", id }, { name, detached });
  return { detached };
}

// ---------------------------------------------------------------------------------------------------------
// Integrations follow their template

const RESYNC_CONCURRENCY = 4;

type Plan = { reauth: FollowRow[]; needKey: FollowRow[]; clearKey: FollowRow[]; resync: FollowRow[] };

/**
 * Decides, per integration made from the template, what a change means for it:
 * - OAuth template: a new URL or new credentials → grant dropped (tokens were issued for the old resource or
 *   client and must not be sent anywhere else) and "reconnect" shown.
 * - API-key template: the key is kept only while the server's origin is unchanged (a key is meant for one
 *   server); without a key the owner is asked for it; with one the integration re-syncs.
 * - No-auth template: re-sync at the new URL.
 */
function planFollow(
  rows: FollowRow[],
  before: TemplateRow,
  after: TemplateRow,
  what: { urlChanged: boolean; credentialsChanged: boolean },
): Plan {
  const plan: Plan = { reauth: [], needKey: [], clearKey: [], resync: [] };
  const kindChanged = before.authKind !== after.authKind;
  const originChanged = originOf(before.serverUrl) !== originOf(after.serverUrl);
  for (const r of rows) {
    if (after.authKind === "oauth") {
      if (what.urlChanged || what.credentialsChanged) plan.reauth.push(r);
      if (r.apiKeyEnc) plan.clearKey.push(r);
      continue;
    }
    const keepKey = after.authKind === "api_key" && !!r.apiKeyEnc && !(what.urlChanged && originChanged);
    if (r.apiKeyEnc && !keepKey) plan.clearKey.push(r);
    if (after.authKind === "api_key" && !keepKey) plan.needKey.push(r);
    else if (what.urlChanged || kindChanged) plan.resync.push(r);
  }
  return plan;
}

async function followTemplate(
  actor: Actor,
  before: TemplateRow,
  after: TemplateRow,
  what: { urlChanged: boolean; credentialsChanged: boolean },
): Promise<FollowSummary> {
  const summary: FollowSummary = { integrations: 0, resynced: 0, reauthorize: 0, keyCleared: 0 };
  if (!what.urlChanged && !what.credentialsChanged) return summary;
  const rows = await integrationsOfTemplate(after.id);
  summary.integrations = rows.length;
  if (!rows.length) return summary;
  const plan = planFollow(rows, before, after, what);
  const ids = (list: FollowRow[]) => list.map((r) => r.id);
  const wasOAuth = before.authKind === "oauth";
  const reauthMessage = what.urlChanged
    ? "An admin moved this integration's server; reconnect to authorize the new address."
    : "An admin updated this integration's sign-in settings; reconnect to continue.";
  await applyFollow(after.id, {
    url: what.urlChanged ? after.serverUrl : undefined,
    // Leaving OAuth, or re-authorizing: no token or registration from before may be used again.
    dropOAuth: ids(wasOAuth && after.authKind !== "oauth" ? rows : plan.reauth),
    set: [
      {
        ids: ids(plan.reauth),
        data: {
          authKind: "oauth",
          status: wasOAuth ? "needs_reauth" : "needs_auth",
          lastError: wasOAuth ? reauthMessage : null,
        },
      },
      { ids: ids(plan.clearKey), data: { apiKeyEnc: null } },
      {
        ids: ids(plan.needKey),
        data: {
          authKind: "api_key",
          status: "error",
          lastError: "An admin changed this integration's server: enter your API key for it (Edit).",
        },
      },
      { ids: ids(plan.resync), data: { authKind: after.authKind, status: "pending", lastError: null } },
    ],
  });
  summary.reauthorize = plan.reauth.length;
  summary.keyCleared = plan.clearKey.length;
  for (const r of rows) await dropSession(r.userId, r.id).catch(() => {});

  let next = 0;
  const worker = async () => {
    while (next < plan.resync.length) {
      const r = plan.resync[next++];
      try {
        await syncIntegration(r.userId, r.id);
        summary.resynced++;
      } catch (e) {
        // The sync recorded its error on the integration, where its owner sees it.
        if (!isAppError(e)) log.warn("re-sync after template change failed", { integrationId: r.id });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, plan.resync.length) }, worker));
  await audit(actor.id, "kitchen.template.followed", { type: "template", id: after.id }, summary);
  return summary;
}

// ---------------------------------------------------------------------------------------------------------
// For other Kitchen modules and the integration page

/** Templates by id for the recipe editor (names only). */
export async function templateChoices(actor: Actor) {
  await assertAdmin(actor);
  return findTemplateChoices();
}
