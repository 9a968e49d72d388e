// Persistence for the OAuth client: client registrations (per integration and issuer), grants and the
// integration-side facts the flow needs. Secrets are encrypted with AAD naming their row (lib/crypto).
import { randomUUID } from "node:crypto";
import {
  computeScopeUnion,
  type OAuthDiscoveryState,
  type StoredOAuthTokens,
} from "@modelcontextprotocol/client";
import { Prisma, type OAuthGrant } from "@prisma/client";
import { decryptField, decryptJson, encryptField, encryptJson } from "@/lib/crypto";
import { getDb, isUniqueViolation } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";

type Tx = Prisma.TransactionClient;

export const grantAad = (id: string) => ({ table: "OAuthGrant", column: "tokensEnc", id });
export const clientAad = (id: string) => ({ table: "OAuthClient", column: "clientSecretEnc", id });
export const pendingAad = (id: string) => ({ table: "OAuthPending", column: "verifierEnc", id });
export const templateAad = (id: string) => ({ table: "Template", column: "clientSecretEnc", id });

export type TokenAuthMethod = "client_secret_basic" | "client_secret_post" | "none";
const AUTH_METHODS = new Set<string>(["client_secret_basic", "client_secret_post", "none"]);
const authMethod = (m: string | null | undefined): TokenAuthMethod | undefined =>
  m && AUTH_METHODS.has(m) ? (m as TokenAuthMethod) : undefined;

// ---------------------------------------------------------------------------------------------------------
// Integration

export type OAuthIntegration = {
  id: string;
  userId: string;
  url: string;
  authKind: string;
  status: string;
  templateId: string | null;
  oauthDiscovery: OAuthDiscoveryState | null;
  stepUpScope: string | null;
};

/** Owner-scoped: another user's id is "not found" before any outbound request. */
export async function loadOAuthIntegration(userId: string, integrationId: string): Promise<OAuthIntegration> {
  if (!userId || !integrationId) throw notFound("Integration not found");
  const db = await getDb();
  const row = await db.integration.findFirst({
    where: { id: integrationId, userId },
    select: {
      id: true,
      userId: true,
      url: true,
      authKind: true,
      status: true,
      templateId: true,
      oauthDiscovery: true,
      stepUpScope: true,
    },
  });
  if (!row) throw notFound("Integration not found");
  return { ...row, oauthDiscovery: (row.oauthDiscovery as OAuthDiscoveryState | null) ?? null };
}

export async function setIntegrationState(
  integ: { id: string; userId: string },
  data: {
    status?: string;
    lastError?: string | null;
    authKind?: string;
    oauthDiscovery?: unknown;
    stepUpScope?: string | null;
  },
): Promise<void> {
  const db = await getDb();
  const { oauthDiscovery, ...rest } = data;
  await db.integration.updateMany({
    where: { id: integ.id, userId: integ.userId },
    data: {
      ...rest,
      ...(oauthDiscovery === undefined
        ? {}
        : {
            oauthDiscovery:
              oauthDiscovery === null ? Prisma.DbNull : (oauthDiscovery as Prisma.InputJsonValue),
          }),
    },
  });
}

/** The most scope tokens one authorization request asks for (step-ups included). */
export const MAX_REQUESTED_SCOPES = 64;

/**
 * A server answered 403 insufficient_scope: remember the scope it asked for (validated tokens, see
 * requiredScopeOf) so the integration page offers to grant it and the next authorization requests it.
 */
export async function recordStepUpScope(integ: { id: string; userId: string }, scope: string): Promise<void> {
  const db = await getDb();
  const row = await db.integration.findFirst({
    where: { id: integ.id, userId: integ.userId },
    select: { stepUpScope: true },
  });
  if (!row) return;
  const merged = computeScopeUnion(row.stepUpScope ?? undefined, scope);
  // Bounded: a server can't grow the request without limit by inventing scopes on every call.
  if (!merged || merged === row.stepUpScope || merged.split(" ").length > MAX_REQUESTED_SCOPES) return;
  await setIntegrationState(integ, { stepUpScope: merged });
}

// ---------------------------------------------------------------------------------------------------------
// Client identity

/** Credentials configured out of band (Kitchen template or `poke tunnel --client-id`): never registered here. */
export type PreRegisteredClient = {
  source: "template" | "cli";
  /** Template id or OAuthClient row id. */
  rowId: string;
  clientId: string;
  clientSecret?: string;
  tokenEndpointAuthMethod?: TokenAuthMethod;
  /** The issuer the credentials are bound to; undefined until first use binds them. */
  issuer?: string;
};

export type TemplateOptions = {
  scopes?: string;
  resourceMode: "default" | "omit" | "override";
  resourceOverride?: string;
  extraAuthParams: Record<string, string>;
};

export type ClientSource = {
  preRegistered?: PreRegisteredClient;
  template?: TemplateOptions;
};

/**
 * Which client identity an integration uses: its template's credentials, else CLI-supplied ones, else
 * dynamic (DCR or CIMD, resolved per issuer at flow time).
 */
export async function resolveClientSource(integ: OAuthIntegration): Promise<ClientSource> {
  const db = await getDb();
  let template: TemplateOptions | undefined;
  if (integ.templateId) {
    const t = await db.template.findUnique({ where: { id: integ.templateId } });
    if (t) {
      template = {
        scopes: t.scopes?.trim() || undefined,
        resourceMode: t.resourceMode === "omit" || t.resourceMode === "override" ? t.resourceMode : "default",
        resourceOverride: t.resourceOverride ?? undefined,
        extraAuthParams: stringRecord(t.extraAuthParams),
      };
      if (t.clientId) {
        // A template's secret belongs to the server the admin configured: an integration whose URL was
        // changed away from it must not carry the secret to whatever that URL names.
        if (!sameUrl(t.serverUrl, integ.url)) {
          throw new AppError(
            "template_mismatch",
            "This integration's URL no longer matches its template, so the template's client credentials can't be used.",
            400,
          );
        }
        return {
          template,
          preRegistered: {
            source: "template",
            rowId: t.id,
            clientId: t.clientId,
            clientSecret: t.clientSecretEnc ? decryptField(t.clientSecretEnc, templateAad(t.id)) : undefined,
            tokenEndpointAuthMethod: authMethod(t.tokenEndpointAuthMethod),
            issuer: t.issuer ?? undefined,
          },
        };
      }
    }
  }
  const cli = await db.oAuthClient.findFirst({
    where: { integrationId: integ.id, source: "cli" },
    orderBy: { createdAt: "desc" },
  });
  if (cli) {
    return {
      template,
      preRegistered: {
        source: "cli",
        rowId: cli.id,
        clientId: cli.clientId,
        clientSecret: cli.clientSecretEnc ? decryptField(cli.clientSecretEnc, clientAad(cli.id)) : undefined,
        tokenEndpointAuthMethod: authMethod(cli.tokenEndpointAuthMethod),
        issuer: cli.issuer || undefined,
      },
    };
  }
  return { template };
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

function stringRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== "object" || Array.isArray(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === "string" || typeof val === "number" || typeof val === "boolean") out[k] = String(val);
  }
  return out;
}

/** First successful use binds unbound template/CLI credentials to the issuer that accepted them. */
export async function bindPreRegisteredIssuer(client: PreRegisteredClient, issuer: string): Promise<void> {
  if (client.issuer) return;
  const db = await getDb();
  if (client.source === "template") {
    await db.template.updateMany({ where: { id: client.rowId, issuer: null }, data: { issuer } });
  } else {
    await db.oAuthClient
      .updateMany({ where: { id: client.rowId, issuer: "" }, data: { issuer } })
      .catch((e) => {
        if (!isUniqueViolation(e)) throw e;
      });
  }
}

/**
 * Stores credentials supplied by `poke tunnel --client-id/--client-secret` for an integration (replacing
 * earlier ones). They are used as-is, never registered, and bound to the first issuer that accepts them
 * unless `issuer` is given.
 */
export async function setCliClient(
  integrationId: string,
  c: { clientId: string; clientSecret?: string; tokenEndpointAuthMethod?: TokenAuthMethod; issuer?: string },
): Promise<void> {
  const db = await getDb();
  const id = randomUUID();
  await db.$transaction([
    db.oAuthClient.deleteMany({ where: { integrationId, source: "cli" } }),
    db.oAuthClient.deleteMany({ where: { integrationId, issuer: c.issuer ?? "" } }),
    db.oAuthClient.create({
      data: {
        id,
        integrationId,
        issuer: c.issuer ?? "",
        redirectUri: "",
        clientId: c.clientId,
        clientSecretEnc: c.clientSecret ? encryptField(c.clientSecret, clientAad(id)) : null,
        tokenEndpointAuthMethod: c.tokenEndpointAuthMethod ?? null,
        source: "cli",
      },
    }),
  ]);
}

export type DynamicClient = {
  clientId: string;
  clientSecret?: string;
  tokenEndpointAuthMethod?: TokenAuthMethod;
  redirectUri: string;
  source: "dcr" | "cimd";
};

/** A DCR/CIMD registration for (integration, issuer) made for this redirect URI. */
export async function findDynamicClient(
  integrationId: string,
  issuer: string,
  redirectUri: string,
): Promise<DynamicClient | undefined> {
  const db = await getDb();
  const row = await db.oAuthClient.findUnique({ where: { integrationId_issuer: { integrationId, issuer } } });
  // A registration for another redirect URI (APP_URL changed) would fail at the AS: register again.
  if (!row || (row.source !== "dcr" && row.source !== "cimd") || row.redirectUri !== redirectUri)
    return undefined;
  return {
    clientId: row.clientId,
    clientSecret: row.clientSecretEnc ? decryptField(row.clientSecretEnc, clientAad(row.id)) : undefined,
    tokenEndpointAuthMethod: authMethod(row.tokenEndpointAuthMethod),
    redirectUri: row.redirectUri,
    source: row.source,
  };
}

export async function saveDynamicClient(
  integrationId: string,
  issuer: string,
  c: DynamicClient,
): Promise<void> {
  const db = await getDb();
  const id = randomUUID();
  const data = {
    redirectUri: c.redirectUri,
    clientId: c.clientId,
    tokenEndpointAuthMethod: c.tokenEndpointAuthMethod ?? null,
    source: c.source,
  };
  await db.$transaction(async (tx) => {
    const existing = await tx.oAuthClient.findUnique({
      where: { integrationId_issuer: { integrationId, issuer } },
    });
    // Pre-registered (CLI) credentials are configuration: a dynamic registration never replaces them.
    if (existing?.source === "cli") return;
    const rowId = existing?.id ?? id;
    const clientSecretEnc = c.clientSecret ? encryptField(c.clientSecret, clientAad(rowId)) : null;
    if (existing) await tx.oAuthClient.update({ where: { id: rowId }, data: { ...data, clientSecretEnc } });
    else await tx.oAuthClient.create({ data: { id, integrationId, issuer, ...data, clientSecretEnc } });
  });
}

export async function deleteDynamicClients(integrationId: string, issuer?: string): Promise<void> {
  const db = await getDb();
  await db.oAuthClient.deleteMany({
    where: { integrationId, source: { in: ["dcr", "cimd"] }, ...(issuer ? { issuer } : {}) },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Grants

/** The SDK's token object plus when we obtained it. */
export type StoredTokens = StoredOAuthTokens & { obtained_at?: number };

export type GrantRow = Pick<
  OAuthGrant,
  "id" | "integrationId" | "issuer" | "expiresAt" | "version" | "obtainedAt"
>;
export type Grant = GrantRow & { tokens: StoredTokens };

export function decodeGrant(row: GrantRow & { tokensEnc: string }): Grant {
  const tokens = decryptJson<StoredTokens>(row.tokensEnc, grantAad(row.id));
  return {
    id: row.id,
    integrationId: row.integrationId,
    issuer: row.issuer,
    expiresAt: row.expiresAt,
    version: row.version,
    obtainedAt: row.obtainedAt,
    tokens,
  };
}

export async function readGrant(integrationId: string, tx?: Tx): Promise<Grant | undefined> {
  const db = tx ?? (await getDb());
  const row = await db.oAuthGrant.findUnique({ where: { integrationId } });
  return row ? decodeGrant(row) : undefined;
}

/** Columns derived from a token response; the token object itself is stored verbatim (encrypted). */
export function grantColumns(id: string, tokens: StoredTokens, issuer: string) {
  const now = Date.now();
  const stored: StoredTokens = { ...tokens, issuer: tokens.issuer ?? issuer, obtained_at: now };
  const expiresIn = Number(tokens.expires_in);
  return {
    issuer: stored.issuer ?? issuer,
    tokensEnc: encryptJson(stored, grantAad(id)),
    hasRefresh: !!tokens.refresh_token,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? new Date(now + expiresIn * 1000) : null,
    scope: tokens.scope ?? null,
    obtainedAt: new Date(now),
  };
}

/** Replaces the integration's grant (a new authorization). */
export async function writeGrant(integrationId: string, tokens: StoredTokens, issuer: string): Promise<void> {
  const db = await getDb();
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = await db.oAuthGrant.findUnique({ where: { integrationId }, select: { id: true } });
    if (existing) {
      await db.oAuthGrant.update({
        where: { id: existing.id },
        data: { ...grantColumns(existing.id, tokens, issuer), version: { increment: 1 } },
      });
      return;
    }
    const id = randomUUID();
    try {
      await db.oAuthGrant.create({ data: { id, integrationId, ...grantColumns(id, tokens, issuer) } });
      return;
    } catch (e) {
      // Two callbacks raced to create it: the loser updates the winner's row.
      if (!isUniqueViolation(e)) throw e;
    }
  }
}

export async function deleteGrant(integrationId: string): Promise<void> {
  const db = await getDb();
  await db.oAuthGrant.deleteMany({ where: { integrationId } });
}
