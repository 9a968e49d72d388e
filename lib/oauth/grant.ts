// Living with a grant: refresh before expiry and on 401 (one refresh per grant at a time, across
// processes: in-process chain + row lock + version check), the engine's auth provider, the UI status,
// and disconnect with RFC 7009 revocation. docs/security.md §9, §11.
import {
  computeScopeUnion,
  fetchToken,
  OAuthError,
  refreshAuthorization,
  type AuthProvider,
  type OAuthClientInformationMixed,
  type OAuthClientProvider,
} from "@modelcontextprotocol/client";
import { audit } from "@/lib/data/audit";
import { AppError, isAppError } from "@/lib/errors";
import { log } from "@/lib/log";
import { keyedSerializer } from "@/lib/serialize";
import { dropSession } from "@/lib/mcp/pool";
import { readIdToken } from "@/lib/data/identity-assertions";
import { privateKeyJwtAuth } from "@/lib/oauth/client-key";
import {
  enterpriseIdentityAvailable,
  jwtBearerTokenRequest,
  offersJwtBearer,
  requestIdJag,
} from "@/lib/oauth/enterprise";
import { classifyOAuthError, needsReauthError, REAUTH_MESSAGE } from "@/lib/oauth/errors";
import { callbackUrl, oauthTargetFor, type OAuthTarget } from "@/lib/oauth/net";
import {
  clientInformationOf,
  clientMetadataFor,
  enterpriseGrant,
  integrationTarget,
  machineGrant,
  machineTokenRequest,
  resourceFor,
  validateDiscovery,
} from "@/lib/oauth/provider";
import {
  deleteDynamicClients,
  deleteGrantAndPending,
  findDynamicClient,
  grantSummary,
  loadOAuthIntegration,
  readGrant,
  resolveClientSource,
  setIntegrationState,
  withLockedGrant,
  type ClientSource,
  type Grant,
  type OAuthIntegration,
} from "@/lib/data/grants";

/** Refresh when the access token has less than this left (or half its lifetime, if that is shorter). */
export const REFRESH_WINDOW_MS = 60_000;
/** How long after a refresh a 401 is taken to answer a request sent with the previous token. */
const STALE_401_GRACE_MS = 5_000;

const needsAuthError = () =>
  new AppError("needs_auth", "The server requires authorization: connect with OAuth to grant access.", 401);

export function expiresSoon(g: Pick<Grant, "expiresAt" | "obtainedAt">, now = Date.now()): boolean {
  if (!g.expiresAt) return false;
  const lifetime = g.expiresAt.getTime() - g.obtainedAt.getTime();
  const window = Math.min(REFRESH_WINDOW_MS, Math.max(0, lifetime / 2));
  return g.expiresAt.getTime() - now <= window;
}

const isExpired = (g: Pick<Grant, "expiresAt">) => !!g.expiresAt && g.expiresAt.getTime() <= Date.now();

export type FreshTokenOptions = {
  /** The access token the resource server just rejected (401): refresh unless it was already replaced. */
  rejectedAccessToken?: string;
  /** Step-up without the person: obtain a token for this (wider) scope unless the grant already has it. */
  scope?: string;
};

function needsRefresh(g: Grant, o: FreshTokenOptions): boolean {
  if (o.rejectedAccessToken !== undefined && o.rejectedAccessToken === g.tokens.access_token) return true;
  if (o.scope !== undefined && !scopeCovers(g.tokens.scope, o.scope)) return true;
  return expiresSoon(g);
}

/** Whether every scope token of `wanted` is in `held`. */
export function scopeCovers(held: string | undefined, wanted: string | undefined): boolean {
  const have = new Set((held ?? "").split(" ").filter(Boolean));
  return (wanted ?? "")
    .split(" ")
    .filter(Boolean)
    .every((t) => have.has(t));
}

// One chain per integration in this process, so a burst of callers queues behind one refresh and then
// finds the new token; the row lock does the same across processes.
const serialized = keyedSerializer("oauthRefresh");

/**
 * Returns a usable access token for the integration, refreshing first when it expires within the window
 * or was rejected. Throws AppError `needs_auth` (no grant), `needs_reauth` (grant gone or unusable: the
 * integration is marked) or `refresh_failed` (transient, and the current token has expired).
 */
export async function ensureFreshToken(
  userId: string,
  integrationId: string,
  opts: FreshTokenOptions = {},
): Promise<string> {
  const integ = await loadOAuthIntegration(userId, integrationId);
  return serialized(integ.id, async () => {
    const g = await readGrant(integ);
    if (!g) throw integ.status === "needs_reauth" ? needsReauthError() : needsAuthError();
    if (!needsRefresh(g, opts)) return g.tokens.access_token;
    return refreshGrant(integ, g, opts);
  });
}

type Outcome =
  | { kind: "fresh"; token: string }
  | { kind: "refreshed"; token: string; rotated: boolean }
  | { kind: "gone" }
  | { kind: "reauth"; reason: string; deleted: boolean; dropClient?: boolean }
  | { kind: "transient"; error: AppError; token: string; expired: boolean };

/**
 * The refresh itself, under `SELECT … FOR UPDATE` on the grant: a second process waits here, then sees a
 * new version (or a fresh token) and does not refresh again. The rotated refresh token replaces the old
 * one in the same transaction (compare-and-set on version as a second guard). `seen` is the grant as read
 * before locking; everything needing other queries is prepared from it first, because PGlite runs an
 * interactive transaction on its only connection. Exported for tests that simulate several processes.
 */
export async function refreshGrant(
  integ: OAuthIntegration,
  seen: Grant,
  opts: FreshTokenOptions = {},
): Promise<string> {
  // Unreachable (e.g. a tunnel that is offline) is transient: this throws before anything changes.
  const target = await oauthTargetFor(integ);
  const fetchFn = target.fetch;
  let client: ClientSource | undefined;
  let binding: Binding;
  try {
    client = await resolveClientSource(integ);
    binding = await bindingFor(integ, seen, client, target);
  } catch (e) {
    binding = { reason: isAppError(e) ? e.code : "client_unreadable" };
  }
  // Grants without a refresh token that Poke can simply ask for again, without the person: client
  // credentials, or (enterprise-managed) the person's identity assertion, read here because the lock
  // below holds PGlite's only connection.
  const reissue: Reissue | undefined =
    "reason" in binding
      ? undefined
      : machineGrant(binding.metadata, client!)
        ? { kind: "client_credentials" }
        : offersJwtBearer(binding.metadata) &&
            enterpriseGrant(binding.metadata, client!, await enterpriseIdentityAvailable(integ.userId))
          ? { kind: "jwt_bearer", idToken: await readIdToken(integ.userId) }
          : undefined;
  const outcome = await withLockedGrant(integ, async (locked): Promise<Outcome> => {
    if (!locked) return { kind: "gone" };
    const g = locked.grant;
    if (g.version !== seen.version || !needsRefresh(g, opts))
      return { kind: "fresh", token: g.tokens.access_token };
    const refreshToken = g.tokens.refresh_token;
    // Client-credentials and identity-assertion grants have no refresh token: Poke simply asks again.
    const machine = !refreshToken && !!reissue;
    if (!refreshToken && !machine) {
      // Nothing to refresh with: usable until it expires (or is rejected), then the person reconnects.
      if (!isExpired(g) && opts.rejectedAccessToken === undefined)
        return { kind: "fresh", token: g.tokens.access_token };
      return { kind: "reauth", reason: "no_refresh_token", deleted: false };
    }
    if ("reason" in binding) return { kind: "reauth", reason: binding.reason, deleted: false };
    try {
      const resource = resourceFor(client!, integ.oauthDiscovery);
      const tokens = refreshToken
        ? await refreshAuthorization(binding.authorizationServerUrl, {
            metadata: binding.metadata,
            clientInformation: binding.clientInformation,
            refreshToken,
            resource,
            scope: opts.scope,
            addClientAuthentication: binding.addClientAuthentication,
            fetchFn,
          })
        : await fetchToken(
            machineProvider(binding, reissue!, {
              audience: binding.metadata.issuer,
              resource: resource ?? target.serverUrl,
              userId: integ.userId,
            }),
            binding.authorizationServerUrl,
            {
              metadata: binding.metadata,
              resource: resource ? new URL(resource) : undefined,
              scope: opts.scope ?? g.tokens.scope,
              fetchFn,
            },
          );
      // RFC 6749 §5.1/§6: without `scope` the response grants what was asked (or, on refresh, what the
      // grant held); the consent stays what the person gave.
      const scope = tokens.scope ?? opts.scope ?? g.tokens.scope;
      const kept = {
        ...tokens,
        ...(scope ? { scope } : {}),
        ...(g.tokens.consented_scope ? { consented_scope: g.tokens.consented_scope } : {}),
      };
      if (!(await locked.replace(kept)))
        throw new AppError("refresh_failed", "The grant changed during refresh.", 409);
      return {
        kind: "refreshed",
        token: tokens.access_token,
        rotated: tokens.refresh_token !== refreshToken,
      };
    } catch (err) {
      if (err instanceof OAuthError && err.code === "invalid_grant") {
        // The only case that deletes the grant: the AS said the refresh token is dead.
        await locked.remove();
        return { kind: "reauth", reason: "invalid_grant", deleted: true };
      }
      if (
        err instanceof OAuthError &&
        (err.code === "invalid_client" || err.code === "unauthorized_client")
      ) {
        return { kind: "reauth", reason: err.code, deleted: false, dropClient: !client!.preRegistered };
      }
      // Network failures, 5xx, garbage bodies: keep everything and try again later.
      return {
        kind: "transient",
        error: classifyOAuthError(err),
        token: g.tokens.access_token,
        expired: isExpired(g),
      };
    }
  });

  switch (outcome.kind) {
    case "fresh":
      return outcome.token;
    case "refreshed":
      await audit(integ.userId, "oauth.refresh", integrationTarget(integ), { rotated: outcome.rotated });
      return outcome.token;
    case "gone":
      throw integ.status === "needs_reauth" ? needsReauthError() : needsAuthError();
    case "reauth":
      if (outcome.dropClient) await deleteDynamicClients(integ, seen.issuer);
      await setIntegrationState(integ, { status: "needs_reauth", lastError: REAUTH_MESSAGE });
      await audit(integ.userId, "oauth.refresh_failed", integrationTarget(integ), {
        reason: outcome.reason,
        grantDeleted: outcome.deleted,
      });
      throw needsReauthError();
    case "transient":
      log.warn("oauth refresh failed (transient)", { integrationId: integ.id, code: outcome.error.code });
      await audit(integ.userId, "oauth.refresh_failed", integrationTarget(integ), {
        reason: outcome.error.code,
        transient: true,
      });
      if (!outcome.expired && opts.rejectedAccessToken === undefined) return outcome.token;
      throw new AppError(
        "refresh_failed",
        `Refreshing the authorization failed (${outcome.error.message}) Try again shortly.`,
        502,
      );
  }
}

type Reissue = { kind: "client_credentials" } | { kind: "jwt_bearer"; idToken: string | undefined };

/** What the SDK's fetchToken needs to request a token again without the person (see Reissue). */
function machineProvider(
  binding: Exclude<Binding, { reason: string }>,
  reissue: Reissue,
  target: { audience: string; resource: string; userId: string },
): OAuthClientProvider {
  return {
    redirectUrl: undefined,
    clientMetadata: clientMetadataFor(),
    clientInformation: () => binding.clientInformation,
    addClientAuthentication: binding.addClientAuthentication,
    prepareTokenRequest: async (scope?: string) => {
      if (reissue.kind === "client_credentials") return machineTokenRequest(scope);
      const jag = await requestIdJag(
        target.userId,
        { audience: target.audience, resource: target.resource, scope },
        reissue.idToken,
      );
      return jwtBearerTokenRequest(jag, scope);
    },
    tokens: () => undefined,
    saveTokens: () => undefined,
    redirectToAuthorization: () => undefined,
    saveCodeVerifier: () => undefined,
    codeVerifier: () => "",
  };
}

type Binding =
  | {
      authorizationServerUrl: string;
      metadata: NonNullable<NonNullable<OAuthIntegration["oauthDiscovery"]>["authorizationServerMetadata"]>;
      clientInformation: OAuthClientInformationMixed;
      addClientAuthentication?: OAuthClientProvider["addClientAuthentication"];
    }
  | { reason: string };

/** docs/security.md §9: the refresh token and client secret go only to the issuer the grant came from. */
async function bindingFor(
  integ: OAuthIntegration,
  g: Grant,
  client: ClientSource,
  target: OAuthTarget,
): Promise<Binding> {
  const discovery = integ.oauthDiscovery;
  const metadata = discovery?.authorizationServerMetadata;
  if (!discovery || !metadata) return { reason: "no_discovery" };
  if (metadata.issuer !== g.issuer || (g.tokens.issuer && g.tokens.issuer !== g.issuer)) {
    return { reason: "issuer_mismatch" };
  }
  try {
    validateDiscovery(discovery, target.serverUrl, client, target.localOrigin);
  } catch (e) {
    return { reason: isAppError(e) ? e.code : "bad_metadata" };
  }
  const pre = client.preRegistered;
  if (pre?.issuer && pre.issuer !== g.issuer) return { reason: "issuer_mismatch" };
  const c = pre ?? (await findDynamicClient(integ, g.issuer, callbackUrl()));
  if (!c) return { reason: "no_client" };
  return {
    authorizationServerUrl: discovery.authorizationServerUrl,
    metadata,
    clientInformation: clientInformationOf(c),
    addClientAuthentication: pre?.privateKey ? privateKeyJwtAuth(pre.clientId, pre.privateKey) : undefined,
  };
}

/**
 * Step-up without the person (docs/oauth.md, "More access"): a server asked for `scope` (403
 * insufficient_scope) and the flow allows obtaining it without a consent screen — a client-credentials or
 * enterprise-managed grant simply asks again with the wider scope, and a grant whose consent already covers
 * it is refreshed with that scope. Returns whether the grant now holds the scope; false leaves it to the
 * person (**Grant access**), as does any failure, which never costs the working grant.
 */
export async function stepUpWithoutPerson(
  userId: string,
  integrationId: string,
  scope: string,
): Promise<boolean> {
  try {
    const integ = await loadOAuthIntegration(userId, integrationId);
    if (integ.authKind !== "oauth") return false;
    const g = await readGrant(integ);
    if (!g) return false;
    if (scopeCovers(g.tokens.scope, scope)) return false; // held already: the server refuses it anyway
    const wanted = computeScopeUnion(g.tokens.scope, scope);
    const client = await resolveClientSource(integ);
    const meta = integ.oauthDiscovery?.authorizationServerMetadata;
    const reissuable =
      !g.tokens.refresh_token &&
      (machineGrant(meta, client) ||
        (offersJwtBearer(meta) && enterpriseGrant(meta, client, await enterpriseIdentityAvailable(userId))));
    const consented =
      !!g.tokens.refresh_token &&
      scopeCovers(computeScopeUnion(g.tokens.consented_scope, g.tokens.scope), wanted);
    if (!reissuable && !consented) return false;
    await serialized(integ.id, () => refreshGrant(integ, g, { scope: wanted }));
    const after = await readGrant(integ);
    const ok = scopeCovers(after?.tokens.scope, scope);
    await audit(userId, "oauth.step_up", integrationTarget(integ), {
      outcome: ok ? "granted" : "not_granted",
      by: reissuable ? "reissue" : "refresh",
    });
    return ok;
  } catch (err) {
    log.info("step-up without the person failed", { integrationId, err: String(err) });
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Engine and UI

/**
 * The auth provider the MCP engine passes to connectMcp for an OAuth integration, or null when the
 * integration doesn't use OAuth. It is a minimal AuthProvider on purpose: the SDK's own reactive refresh
 * would run through the engine's fetch, outside the single-flight and row lock; here `token()` refreshes
 * ahead of expiry and `onUnauthorized()` refreshes once per rejected token, both via ensureFreshToken.
 * Step-up (403 insufficient_scope) surfaces as InsufficientScopeError: widening scope needs the person,
 * i.e. startAuthorization({ scope }).
 */
export async function oauthProviderFor(userId: string, integrationId: string): Promise<AuthProvider | null> {
  const integ = await loadOAuthIntegration(userId, integrationId);
  if (integ.authKind !== "oauth") return null;
  let handedOut: string | undefined;
  // The token this provider last refreshed to, and when: a 401 answering a request sent before that
  // refresh arrives after it, and must not trigger another one (the transport retries with the new token).
  let refreshedTo: { token: string; at: number } | undefined;
  return {
    async token() {
      handedOut = await ensureFreshToken(userId, integrationId);
      return handedOut;
    },
    async onUnauthorized() {
      const rejected = handedOut ?? "";
      if (refreshedTo?.token === rejected && Date.now() - refreshedTo.at < STALE_401_GRACE_MS) return;
      const token = await ensureFreshToken(userId, integrationId, { rejectedAccessToken: rejected });
      if (token !== rejected) refreshedTo = { token, at: Date.now() };
      handedOut = token;
    },
  };
}

export type OAuthStatus = {
  kind: "oauth";
  issuer: string | null;
  scopes: string[];
  expiresAt: Date | null;
  state: "authorized" | "needs_auth" | "needs_reauth";
  /** Scopes the server asked for beyond the grant (403 insufficient_scope): "Grant access" requests them. */
  missingScopes: string[];
};

/** What the UI shows about an integration's OAuth authorization (never tokens); null when not OAuth. */
export async function oauthStatus(userId: string, integrationId: string): Promise<OAuthStatus | null> {
  const integ = await loadOAuthIntegration(userId, integrationId);
  const grant = await grantSummary(integ);
  const oauthLike =
    integ.authKind === "oauth" || integ.status === "needs_auth" || integ.status === "needs_reauth";
  if (!grant && !oauthLike) return null;
  const state =
    integ.status === "needs_reauth" ? "needs_reauth" : grant ? "authorized" : ("needs_auth" as const);
  const granted = (grant?.scope ?? "").split(" ").filter(Boolean);
  return {
    kind: "oauth",
    issuer: grant?.issuer ?? integ.oauthDiscovery?.authorizationServerMetadata?.issuer ?? null,
    scopes: granted,
    expiresAt: grant?.expiresAt ?? null,
    state,
    missingScopes: (integ.stepUpScope ?? "").split(" ").filter((s) => s && !granted.includes(s)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Disconnect

export type DisconnectResult = { revocation: "revoked" | "failed" | "unsupported" | "none" };

/**
 * Deletes the local tokens first (so nothing can use them any more), then asks the AS to revoke the
 * refresh token (RFC 7009) when it advertises a revocation endpoint. Revocation is best effort.
 */
export async function disconnectOAuth(userId: string, integrationId: string): Promise<DisconnectResult> {
  const integ = await loadOAuthIntegration(userId, integrationId);
  const grant = await readGrant(integ).catch(() => undefined);
  await deleteGrantAndPending(integ);
  await setIntegrationState(integ, { status: "needs_auth", lastError: null });
  await dropSession(userId, integ.id).catch(() => {});
  await audit(userId, "oauth.disconnect", integrationTarget(integ), { hadGrant: !!grant });
  if (!grant) return { revocation: "none" };

  let revocation: DisconnectResult["revocation"] = "unsupported";
  let status: number | undefined;
  try {
    const target = await oauthTargetFor(integ);
    const client = await resolveClientSource(integ);
    const binding = await bindingFor(integ, grant, client, target);
    const meta = "reason" in binding ? undefined : (binding.metadata as Record<string, unknown>);
    const endpoint = typeof meta?.revocation_endpoint === "string" ? meta.revocation_endpoint : undefined;
    if (!("reason" in binding) && endpoint) {
      const token = grant.tokens.refresh_token ?? grant.tokens.access_token;
      const body = new URLSearchParams({
        token,
        token_type_hint: grant.tokens.refresh_token ? "refresh_token" : "access_token",
      });
      const headers = new Headers({
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      });
      const methods =
        (meta?.revocation_endpoint_auth_methods_supported as string[] | undefined) ??
        binding.metadata.token_endpoint_auth_methods_supported ??
        [];
      applyClientAuth(binding.clientInformation, methods, headers, body);
      const res = await target.fetch(endpoint, { method: "POST", headers, body, redirect: "manual" });
      await res.body?.cancel().catch(() => {});
      status = res.status;
      revocation = res.ok ? "revoked" : "failed";
    }
  } catch (err) {
    revocation = "failed";
    log.info("oauth revocation failed", {
      integrationId: integ.id,
      err: isAppError(err) ? err.code : String(err),
    });
  }
  await audit(userId, "oauth.revoke", integrationTarget(integ), {
    outcome: revocation,
    ...(status ? { status } : {}),
  });
  return { revocation };
}

/** RFC 6749 §2.3.1 client authentication for the revocation request (basic, post or none). */
function applyClientAuth(
  client: OAuthClientInformationMixed,
  supported: string[],
  headers: Headers,
  body: URLSearchParams,
): void {
  const secret = client.client_secret;
  const preferred = (client as { token_endpoint_auth_method?: string }).token_endpoint_auth_method;
  const ok = (m: string) => supported.length === 0 || supported.includes(m);
  const method =
    preferred && ok(preferred)
      ? preferred
      : secret && ok("client_secret_basic")
        ? "client_secret_basic"
        : secret && ok("client_secret_post")
          ? "client_secret_post"
          : "none";
  if (method === "client_secret_basic" && secret) {
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
    headers.set(
      "authorization",
      `Basic ${Buffer.from(`${enc(client.client_id)}:${enc(secret)}`).toString("base64")}`,
    );
    return;
  }
  body.set("client_id", client.client_id);
  if (method === "client_secret_post" && secret) body.set("client_secret", secret);
}
