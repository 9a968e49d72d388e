// OAuth persistence, owner-scoped: client registrations (per integration and issuer), grants, pending
// authorizations and the integration-side facts the flow needs. Every query names the integration's owner;
// the flow's logic is lib/oauth's. Secrets are encrypted with AAD naming their row (lib/crypto).
import { randomUUID } from "node:crypto";
import {
  computeScopeUnion,
  type OAuthDiscoveryState,
  type StoredOAuthTokens,
} from "@modelcontextprotocol/client";
import { Prisma, type OAuthGrant } from "@prisma/client";
import { aad, decryptField, decryptJson, encryptField, encryptJson } from "@/lib/crypto";
import { integrationsChanged } from "@/lib/data/changes";
import { getDb, isUniqueViolation } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";

/** An integration and its owner: every query below is filtered by both. */
export type IntegrationRef = { id: string; userId: string };
const owned = (integ: IntegrationRef) => ({ integrationId: integ.id, integration: { userId: integ.userId } });
/** For creates: the row attaches only to an integration of that owner. */
const ownedBy = (integ: IntegrationRef) => ({ connect: { id: integ.id, userId: integ.userId } });

export type TokenAuthMethod = "client_secret_basic" | "client_secret_post" | "none";
const AUTH_METHODS = new Set<string>(["client_secret_basic", "client_secret_post", "none"]);
export const authMethod = (m: string | null | undefined): TokenAuthMethod | undefined =>
  m && AUTH_METHODS.has(m) ? (m as TokenAuthMethod) : undefined;

// ---------------------------------------------------------------------------------------------------------
// Integration

const oauthIntegrationSelect = {
  id: true,
  userId: true,
  url: true,
  authKind: true,
  status: true,
  templateId: true,
  oauthDiscovery: true,
  stepUpScope: true,
} satisfies Prisma.IntegrationSelect;
export type OAuthIntegration = Omit<
  Prisma.IntegrationGetPayload<{ select: typeof oauthIntegrationSelect }>,
  "oauthDiscovery"
> & { oauthDiscovery: OAuthDiscoveryState | null };

/** Owner-scoped: another user's id is "not found" before any outbound request. */
export async function loadOAuthIntegration(userId: string, integrationId: string): Promise<OAuthIntegration> {
  if (!userId || !integrationId) throw notFound("Integration not found");
  const db = await getDb();
  const row = await db.integration.findFirst({
    where: { id: integrationId, userId },
    select: oauthIntegrationSelect,
  });
  if (!row) throw notFound("Integration not found");
  return { ...row, oauthDiscovery: (row.oauthDiscovery as OAuthDiscoveryState | null) ?? null };
}

export async function setIntegrationState(
  integ: IntegrationRef,
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
    // Undefined leaves the column as it is.
    data: {
      ...rest,
      oauthDiscovery:
        oauthDiscovery === null ? Prisma.DbNull : (oauthDiscovery as Prisma.InputJsonValue | undefined),
    },
  });
  integrationsChanged({ userId: integ.userId, integrationId: integ.id });
}

/** The most scope tokens one authorization request asks for (step-ups included). */
export const MAX_REQUESTED_SCOPES = 64;

/**
 * A server answered 403 insufficient_scope: remember the scope it asked for (validated tokens, see
 * requiredScopeOf) so the integration page offers to grant it and the next authorization requests it.
 */
export async function recordStepUpScope(integ: IntegrationRef, scope: string): Promise<void> {
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
  /** private_key_jwt (RFC 7523) instead of a secret: PKCS#8 PEM and its algorithm. */
  privateKey?: { pem: string; alg: string };
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
            clientSecret: t.clientSecretEnc
              ? decryptField(t.clientSecretEnc, aad("Template", "clientSecretEnc", t.id))
              : undefined,
            privateKey:
              t.clientPrivateKeyEnc && t.clientKeyAlg
                ? {
                    pem: decryptField(t.clientPrivateKeyEnc, aad("Template", "clientPrivateKeyEnc", t.id)),
                    alg: t.clientKeyAlg,
                  }
                : undefined,
            tokenEndpointAuthMethod: authMethod(t.tokenEndpointAuthMethod),
            issuer: t.issuer ?? undefined,
          },
        };
      }
    }
  }
  const cli = await db.oAuthClient.findFirst({
    where: { ...owned(integ), source: "cli" },
    orderBy: { createdAt: "desc" },
  });
  if (cli) {
    return {
      template,
      preRegistered: {
        source: "cli",
        rowId: cli.id,
        clientId: cli.clientId,
        clientSecret: cli.clientSecretEnc
          ? decryptField(cli.clientSecretEnc, aad("OAuthClient", "clientSecretEnc", cli.id))
          : undefined,
        privateKey:
          cli.privateKeyEnc && cli.keyAlg
            ? {
                pem: decryptField(cli.privateKeyEnc, aad("OAuthClient", "privateKeyEnc", cli.id)),
                alg: cli.keyAlg,
              }
            : undefined,
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
  integ: IntegrationRef,
  c: {
    clientId: string;
    clientSecret?: string;
    /** private_key_jwt: PKCS#8 PEM and its algorithm (lib/oauth/client-key.ts parses what was supplied). */
    privateKey?: { pem: string; alg: string };
    tokenEndpointAuthMethod?: TokenAuthMethod;
    issuer?: string;
  },
): Promise<void> {
  const db = await getDb();
  const id = randomUUID();
  await db.$transaction([
    db.oAuthClient.deleteMany({ where: { ...owned(integ), source: "cli" } }),
    db.oAuthClient.deleteMany({ where: { ...owned(integ), issuer: c.issuer ?? "" } }),
    db.oAuthClient.create({
      data: {
        id,
        integration: ownedBy(integ),
        issuer: c.issuer ?? "",
        redirectUri: "",
        clientId: c.clientId,
        clientSecretEnc: c.clientSecret
          ? encryptField(c.clientSecret, aad("OAuthClient", "clientSecretEnc", id))
          : null,
        privateKeyEnc: c.privateKey
          ? encryptField(c.privateKey.pem, aad("OAuthClient", "privateKeyEnc", id))
          : null,
        keyAlg: c.privateKey?.alg ?? null,
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
  integ: IntegrationRef,
  issuer: string,
  redirectUri: string,
): Promise<DynamicClient | undefined> {
  const db = await getDb();
  const row = await db.oAuthClient.findFirst({ where: { ...owned(integ), issuer } });
  // A registration for another redirect URI (APP_URL changed) would fail at the AS: register again.
  if (!row || (row.source !== "dcr" && row.source !== "cimd") || row.redirectUri !== redirectUri)
    return undefined;
  return {
    clientId: row.clientId,
    clientSecret: row.clientSecretEnc
      ? decryptField(row.clientSecretEnc, aad("OAuthClient", "clientSecretEnc", row.id))
      : undefined,
    tokenEndpointAuthMethod: authMethod(row.tokenEndpointAuthMethod),
    redirectUri: row.redirectUri,
    source: row.source,
  };
}

export async function saveDynamicClient(
  integ: IntegrationRef,
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
    const existing = await tx.oAuthClient.findFirst({ where: { ...owned(integ), issuer } });
    // Pre-registered (CLI) credentials are configuration: a dynamic registration never replaces them.
    if (existing?.source === "cli") return;
    const rowId = existing?.id ?? id;
    const clientSecretEnc = c.clientSecret
      ? encryptField(c.clientSecret, aad("OAuthClient", "clientSecretEnc", rowId))
      : null;
    if (existing) await tx.oAuthClient.update({ where: { id: rowId }, data: { ...data, clientSecretEnc } });
    else
      await tx.oAuthClient.create({
        data: { id, integration: ownedBy(integ), issuer, ...data, clientSecretEnc },
      });
  });
}

export async function deleteDynamicClients(integ: IntegrationRef, issuer?: string): Promise<void> {
  const db = await getDb();
  await db.oAuthClient.deleteMany({
    where: { ...owned(integ), source: { in: ["dcr", "cimd"] }, ...(issuer ? { issuer } : {}) },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Grants

/**
 * The SDK's token object plus when we obtained it and what the person consented to at the authorization
 * server (`consented_scope`, see docs/oauth.md on step-up).
 */
export type StoredTokens = StoredOAuthTokens & { obtained_at?: number; consented_scope?: string };

export type GrantRow = Pick<
  OAuthGrant,
  "id" | "integrationId" | "issuer" | "expiresAt" | "version" | "obtainedAt"
>;
export type Grant = GrantRow & { tokens: StoredTokens };

function decodeGrant({ tokensEnc, ...row }: GrantRow & { tokensEnc: string }): Grant {
  return { ...row, tokens: decryptJson<StoredTokens>(tokensEnc, aad("OAuthGrant", "tokensEnc", row.id)) };
}

export async function readGrant(integ: IntegrationRef): Promise<Grant | undefined> {
  const db = await getDb();
  const row = await db.oAuthGrant.findFirst({ where: owned(integ) });
  return row ? decodeGrant(row) : undefined;
}

/** Columns derived from a token response; the token object itself is stored verbatim (encrypted). */
function grantColumns(id: string, tokens: StoredTokens, issuer: string) {
  const now = Date.now();
  const stored: StoredTokens = { ...tokens, issuer: tokens.issuer ?? issuer, obtained_at: now };
  const expiresIn = Number(tokens.expires_in);
  return {
    issuer: stored.issuer ?? issuer,
    tokensEnc: encryptJson(stored, aad("OAuthGrant", "tokensEnc", id)),
    hasRefresh: !!tokens.refresh_token,
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? new Date(now + expiresIn * 1000) : null,
    scope: tokens.scope ?? null,
    obtainedAt: new Date(now),
  };
}

/** Replaces the integration's grant (a new authorization). */
export async function writeGrant(integ: IntegrationRef, tokens: StoredTokens, issuer: string): Promise<void> {
  const db = await getDb();
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = await db.oAuthGrant.findFirst({ where: owned(integ), select: { id: true } });
    if (existing) {
      await db.oAuthGrant.update({
        where: { id: existing.id },
        data: { ...grantColumns(existing.id, tokens, issuer), version: { increment: 1 } },
      });
      return;
    }
    const id = randomUUID();
    try {
      await db.oAuthGrant.create({
        data: { id, integration: ownedBy(integ), ...grantColumns(id, tokens, issuer) },
      });
      return;
    } catch (e) {
      // Two callbacks raced to create it: the loser updates the winner's row.
      if (!isUniqueViolation(e)) throw e;
    }
  }
}

export type LockedGrant = {
  grant: Grant;
  /** Stores refreshed tokens if the grant is still the version read (compare-and-set); false if not. */
  replace(tokens: StoredTokens): Promise<boolean>;
  /** Deletes the grant (the authorization server said its refresh token is dead). */
  remove(): Promise<void>;
};

/**
 * Runs `fn` with the integration's grant locked (`SELECT … FOR UPDATE`; undefined when there is none): a
 * second process refreshing the same grant waits here. `fn` may send requests but must not query the
 * database otherwise: PGlite runs an interactive transaction on its only connection.
 */
export async function withLockedGrant<T>(
  integ: IntegrationRef,
  fn: (locked: LockedGrant | undefined) => Promise<T>,
): Promise<T> {
  const db = await getDb();
  return db.$transaction(
    async (tx) => {
      const locked = await tx.$queryRaw<{ id: string }[]>`
        SELECT g.id FROM "OAuthGrant" g JOIN "Integration" i ON i.id = g."integrationId"
        WHERE g."integrationId" = ${integ.id} AND i."userId" = ${integ.userId} FOR UPDATE OF g`;
      const row = locked.length ? await tx.oAuthGrant.findUnique({ where: { id: locked[0].id } }) : null;
      if (!row) return fn(undefined);
      const grant = decodeGrant(row);
      return fn({
        grant,
        replace: async (tokens) => {
          const { count } = await tx.oAuthGrant.updateMany({
            where: { id: grant.id, version: grant.version },
            data: {
              ...grantColumns(grant.id, { ...tokens, issuer: grant.issuer }, grant.issuer),
              version: { increment: 1 },
            },
          });
          return count === 1;
        },
        remove: async () => {
          await tx.oAuthGrant.delete({ where: { id: grant.id } });
        },
      });
    },
    { maxWait: 30_000, timeout: 60_000 },
  );
}

/** What pages may know about a grant (never its tokens), or null without one. */
export async function grantSummary(integ: IntegrationRef) {
  const db = await getDb();
  return db.oAuthGrant.findFirst({
    where: owned(integ),
    select: { issuer: true, scope: true, expiresAt: true },
  });
}

/** Disconnect: the grant and any authorization still in flight go together. */
export async function deleteGrantAndPending(integ: IntegrationRef): Promise<void> {
  const db = await getDb();
  await db.$transaction([
    db.oAuthGrant.deleteMany({ where: owned(integ) }),
    db.oAuthPending.deleteMany({
      where: { integrationId: integ.id, userId: integ.userId, consumedAt: null },
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// Pending authorizations

/** Consumed and expired rows are kept a day so replays are recognized (and audited) as such. */
const PENDING_RETENTION_MS = 24 * 60 * 60_000;

/** Stores a started authorization (the PKCE verifier encrypted) and prunes rows past their retention. */
export async function createPending(
  integ: IntegrationRef,
  p: {
    stateHash: string;
    browserHash: string;
    issuer: string;
    endpoints: object;
    verifier: string;
    returnTo: string | null;
    expiresAt: Date;
  },
): Promise<void> {
  const db = await getDb();
  const id = randomUUID();
  const { verifier, ...rest } = p;
  await db.oAuthPending.create({
    data: {
      id,
      ...rest,
      user: { connect: { id: integ.userId } },
      integration: ownedBy(integ),
      verifierEnc: encryptField(verifier, aad("OAuthPending", "verifierEnc", id)),
    },
  });
  await db.oAuthPending
    .deleteMany({ where: { expiresAt: { lt: new Date(Date.now() - PENDING_RETENTION_MS) } } })
    .catch((e) => log.warn("pruning pending OAuth rows failed", { err: String(e) }));
}

/**
 * Consumes the user's pending authorization for `stateHash`: single use, bound to this browser, unexpired,
 * in one conditional update. `pending` is the user's row either way (to tell why it was refused); another
 * user's row is only reported as `foreign`.
 */
export async function consumePending(userId: string, stateHash: string, browserHash: string, now: Date) {
  const db = await getDb();
  const consumed = await db.oAuthPending.updateMany({
    where: { stateHash, userId, browserHash, consumedAt: null, expiresAt: { gt: now } },
    data: { consumedAt: now },
  });
  const row = await db.oAuthPending.findUnique({ where: { stateHash } });
  if (!row || row.userId !== userId) return { consumed: false, pending: null, foreign: !!row };
  const { verifierEnc, ...pending } = row;
  const verifier = verifierEnc
    ? () => decryptField(verifierEnc, aad("OAuthPending", "verifierEnc", row.id))
    : null;
  return { consumed: consumed.count === 1, pending: { ...pending, verifier }, foreign: false };
}
