// The two legs of an authorization: start (discover, register, PKCE, pending row, authorization URL) and
// callback (consume the pending row atomically, check iss, exchange the code at the recorded token
// endpoint, store the grant, re-sync). docs/security.md §7–10 and §23.
import {
  auth,
  computeScopeUnion,
  extractWWWAuthenticateParams,
  IssuerMismatchError,
  validateAuthorizationResponseIssuer,
  type OAuthDiscoveryState,
} from "@modelcontextprotocol/client";
import { audit } from "@/lib/data/audit";
import { hashSecret, randomToken } from "@/lib/crypto";
import { AppError, isAppError } from "@/lib/errors";
import { publicUserId } from "@/lib/data/users";
import { log } from "@/lib/log";
import { mcpHeadersFor } from "@/lib/mcp/connect";
import { syncIntegration, type SyncDiff } from "@/lib/mcp/sync";
import { createEgressFetch } from "@/lib/net/egress";
import { tunnelFetchFor } from "@/lib/tunnel/fetch";
import { enterpriseIdentityAvailable } from "@/lib/oauth/enterprise";
import { classifyOAuthError, OAUTH_ERROR_MESSAGES } from "@/lib/oauth/errors";
import { oauthProviderFor } from "@/lib/oauth/grant";
import { assertSafeOAuthUrl, oauthTargetFor, type OAuthFetch } from "@/lib/oauth/net";
import { DbOAuthProvider, integrationTarget, resourceFor } from "@/lib/oauth/provider";
import {
  bindPreRegisteredIssuer,
  consumePending,
  createPending,
  grantSummary,
  loadOAuthIntegration,
  MAX_REQUESTED_SCOPES,
  readGrant,
  resolveClientSource,
  setIntegrationState,
  type ClientSource,
  type OAuthIntegration,
} from "@/lib/data/grants";

/** docs/security.md §8: a pending authorization lives 10 minutes. */
export const PENDING_TTL_MS = 10 * 60_000;

/** What the pending row records about the flow (public data; the verifier is a separate encrypted column). */
type PendingEndpoints = {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  resource?: string;
  discovery: OAuthDiscoveryState;
  /** The scope the person is asked to consent to (what the grant holds when the server doesn't say). */
  scope?: string;
};

export type StartInput = {
  userId: string;
  integrationId: string;
  /** The random value of the browser-binding cookie (only its hash is stored). */
  browserBinding: string;
  /** Extra scope to request (step-up); defaults to the template's scopes or the server's challenge. */
  scope?: string;
  /** Same-site path the callback returns to (validated by the caller), e.g. a recipe's install page. */
  returnTo?: string;
};

/**
 * Starts an authorization for one of the user's integrations and returns the URL to send the browser to.
 * The pending row is stored before this returns. A machine-to-machine authorization server (client
 * credentials, see machineGrant) issues tokens at once: then `authorizationUrl` is null and the grant is
 * stored. Failures are recorded on the integration, audited and thrown as AppError.
 */
export async function startAuthorization(input: StartInput): Promise<{ authorizationUrl: string | null }> {
  if (!input.browserBinding || input.browserBinding.length < 22) {
    throw new AppError("invalid_request", "Missing browser binding.", 400);
  }
  const integ = await loadOAuthIntegration(input.userId, input.integrationId);
  let fetchFn: OAuthFetch | undefined;
  try {
    const target = await oauthTargetFor(integ);
    fetchFn = target.fetch;
    const client = await resolveClientSource(integ);
    const state = randomToken("", 32);
    // The 401 challenge's resource_metadata comes first; well-known paths are the SDK's fallback. A
    // server of the 2026-07-28 revision may let initialize through and challenge other requests: the
    // scope of the challenge the engine received then is on the integration (stepUpScope).
    const challenge = await probeAuthChallenge(new URL(integ.url), integ.userId, target.localOrigin);
    const scope = await requestedScope(integ, input.scope ?? client.template?.scopes ?? challenge.scope);
    const provider = new DbOAuthProvider({
      integration: integ,
      serverUrl: target.serverUrl,
      localOrigin: target.localOrigin,
      client,
      mode: { kind: "start", state },
      enterpriseIdentity: await enterpriseIdentityAvailable(integ.userId),
      requestedScope: scope,
    });
    const result = await auth(provider, {
      serverUrl: target.serverUrl,
      resourceMetadataUrl: challenge.resourceMetadataUrl,
      scope,
      fetchFn,
      // Connect/Reconnect always asks the person again; refreshing is grant.ts's job.
      forceReauthorization: true,
      // The issuer check is validateDiscovery's (docs/security.md §7), run before anything is sent: the same
      // RFC 8414 echo, plus the 2025-03-26 same-origin case.
      skipIssuerMetadataValidation: true,
    });
    const discovery = provider.discovery;
    const meta = discovery?.authorizationServerMetadata;
    if (result === "AUTHORIZED" && meta && !provider.redirectUrl) {
      await recordAuthorized(integ, client, meta.issuer, discovery);
      await audit(integ.userId, "oauth.callback", integrationTarget(integ), {
        outcome: "authorized",
        issuer: meta.issuer,
        grant: provider.grantKind(),
      });
      return { authorizationUrl: null };
    }
    if (result !== "REDIRECT" || !provider.authorizationUrl || !provider.codeVerifierValue || !meta) {
      throw new AppError("oauth_failed", "The authorization server did not start an authorization.", 502);
    }
    const endpoints: PendingEndpoints = {
      authorizationEndpoint: meta.authorization_endpoint,
      tokenEndpoint: meta.token_endpoint,
      resource: resourceFor(client, discovery),
      discovery,
      scope,
    };
    await createPending(integ, {
      stateHash: hashSecret(state),
      browserHash: hashSecret(input.browserBinding),
      issuer: meta.issuer,
      endpoints,
      verifier: provider.codeVerifierValue,
      returnTo: input.returnTo ?? null,
      expiresAt: new Date(Date.now() + PENDING_TTL_MS),
    });
    await audit(integ.userId, "oauth.start", integrationTarget(integ), {
      issuer: meta.issuer,
      client: client.preRegistered?.source ?? "dynamic",
      ...(provider.legacyEndpoints ? { endpoints: "2025-03-26 defaults (no metadata)" } : {}),
    });
    return { authorizationUrl: provider.authorizationUrl.href };
  } catch (err) {
    const app = classifyOAuthError(err);
    await recordRejection(integ, "start", app, err);
    throw app;
  }
}

/**
 * The scope of an authorization request: the base request, plus what the current grant already holds (a
 * reconnect keeps it) and what the server asked for since (403 insufficient_scope step-up), bounded.
 * Undefined leaves the choice to the SDK (protected-resource or authorization-server scopes, or none).
 */
async function requestedScope(
  integ: OAuthIntegration,
  base: string | undefined,
): Promise<string | undefined> {
  const grant = await readGrant(integ).catch(() => undefined);
  const union = computeScopeUnion(base, grant?.tokens.scope, integ.stepUpScope ?? undefined);
  if (union && union.split(" ").length > MAX_REQUESTED_SCOPES) {
    throw new AppError(
      "invalid_scope",
      `The server asks for more than ${MAX_REQUESTED_SCOPES} scopes; refusing to request them.`,
      400,
    );
  }
  return union;
}

/**
 * The server's answer to the unauthenticated initialize any MCP client sends first: its status and, on
 * 401/403, the challenge's protected-resource metadata URL (validated) and scope.
 */
export async function probeAuthChallenge(
  serverUrl: URL,
  userId: string,
  localOrigin?: string,
): Promise<{ status: number; resourceMetadataUrl?: URL; scope?: string }> {
  const headersFor = mcpHeadersFor(serverUrl, await publicUserId(userId), null, true);
  const opts = { purpose: "mcp" as const, headersFor };
  const egress = tunnelFetchFor(serverUrl, userId, opts) ?? createEgressFetch(opts);
  const res = await egress(serverUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "poke", version: "0.1.0" },
      },
    }),
    signal: AbortSignal.timeout(15_000),
  });
  await res.body?.cancel().catch(() => {});
  if (res.status !== 401 && res.status !== 403) return { status: res.status };
  const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(res);
  if (resourceMetadataUrl)
    assertSafeOAuthUrl(resourceMetadataUrl.href, "protected-resource metadata URL", localOrigin);
  return { status: res.status, resourceMetadataUrl, scope };
}

async function recordRejection(
  integ: { id: string; userId: string },
  leg: "start" | "callback",
  app: AppError,
  cause: unknown,
): Promise<void> {
  if (app.status >= 500 && !isAppError(cause))
    log.warn(`oauth ${leg} failed`, { integrationId: integ.id, cause });
  await setIntegrationState(integ, { status: "error", lastError: app.message }).catch(() => {});
  const metadataCodes = new Set([
    "unsafe_metadata",
    "bad_metadata",
    "no_metadata",
    "pkce_unsupported",
    "resource_mismatch",
    "issuer_mismatch",
    "iss_mismatch",
    "too_large",
    "blocked_address",
    "redirect_refused",
  ]);
  const action = metadataCodes.has(app.code) ? "oauth.rejected_metadata" : `oauth.${leg}_failed`;
  await audit(integ.userId, action, integrationTarget(integ), { leg, code: app.code }).catch(() => {});
}

// ---------------------------------------------------------------------------------------------------------
// Callback

export type CallbackInput = {
  userId: string;
  browserBinding: string | undefined;
  params: URLSearchParams;
  /** Re-sync the integration's tools after success (default true). */
  sync?: boolean;
};

export type CallbackResult =
  | { ok: true; integrationId: string; diff?: SyncDiff; returnTo?: string | null }
  /** integrationId is set only when the pending row belonged to this user. */
  | { ok: false; integrationId: string | null; error: string };

const KNOWN_AS_ERRORS = new Set([
  "access_denied",
  "invalid_request",
  "unauthorized_client",
  "unsupported_response_type",
  "invalid_scope",
  "server_error",
  "temporarily_unavailable",
  "invalid_target",
  "consent_required",
  "login_required",
  "interaction_required",
]);

/** The callback's logic; the route only supplies the session user and the cookie. Never throws AppError. */
export async function completeAuthorization(input: CallbackInput): Promise<CallbackResult> {
  const { userId, params } = input;
  const state = params.get("state");
  if (!state || state.length > 512 || !input.browserBinding) {
    await audit(userId, "oauth.callback", undefined, {
      outcome: "rejected",
      reason: "missing_state_or_cookie",
    });
    return { ok: false, integrationId: null, error: "invalid_state" };
  }
  const now = new Date();
  const { consumed, pending, foreign } = await consumePending(
    userId,
    hashSecret(state),
    hashSecret(input.browserBinding),
    now,
  );
  if (!consumed || !pending) {
    const reason = foreign
      ? "other_user"
      : !pending
        ? "unknown_state"
        : pending.consumedAt && pending.consumedAt.getTime() !== now.getTime()
          ? "replayed"
          : pending.expiresAt <= now
            ? "expired"
            : "wrong_browser";
    const target = pending ? integrationTarget({ id: pending.integrationId }) : undefined;
    await audit(userId, "oauth.callback", target, { outcome: "rejected", reason });
    return { ok: false, integrationId: pending?.integrationId ?? null, error: "invalid_state" };
  }

  let integ: OAuthIntegration;
  try {
    integ = await loadOAuthIntegration(userId, pending.integrationId);
  } catch {
    return { ok: false, integrationId: null, error: "invalid_state" };
  }
  const endpoints = pending.endpoints as PendingEndpoints | null;
  const meta = endpoints?.discovery?.authorizationServerMetadata;
  if (!endpoints || !meta || !pending.issuer || !pending.verifier || meta.issuer !== pending.issuer) {
    return fail(integ, "invalid_state", new AppError("invalid_state", OAUTH_ERROR_MESSAGES.invalid_state));
  }

  // RFC 9207 before anything else from the response is believed — the error parameters included.
  try {
    validateAuthorizationResponseIssuer({
      iss: params.get("iss") ?? undefined,
      expectedIssuer: pending.issuer,
      issParameterSupported: meta.authorization_response_iss_parameter_supported === true,
    });
  } catch (err) {
    const received = err instanceof IssuerMismatchError ? err.received : undefined;
    log.warn("oauth callback iss mismatch", { integrationId: integ.id, expected: pending.issuer, received });
    return fail(integ, "iss_mismatch", new AppError("iss_mismatch", OAUTH_ERROR_MESSAGES.iss_mismatch));
  }

  const asError = params.get("error");
  if (asError) {
    const code = KNOWN_AS_ERRORS.has(asError) ? asError : "authorization_failed";
    const message =
      code === "access_denied"
        ? "Authorization was denied at the authorization server."
        : `The authorization server returned an error (${code}). Try connecting again.`;
    return fail(
      integ,
      code === "access_denied" ? "access_denied" : "authorization_failed",
      new AppError(code, message),
    );
  }
  const code = params.get("code");
  if (!code) {
    return fail(
      integ,
      "authorization_failed",
      new AppError("authorization_failed", "The authorization response had no code."),
    );
  }

  let fetchFn: OAuthFetch | undefined;
  let client: ClientSource;
  try {
    const target = await oauthTargetFor(integ);
    fetchFn = target.fetch;
    client = await resolveClientSource(integ);
    // The code goes only to the token endpoint recorded when the flow started (the snapshot below);
    // pre-registered credentials only to the issuer they are bound to (the SDK re-checks both).
    if (meta.token_endpoint !== endpoints.tokenEndpoint)
      throw new AppError("invalid_state", "Token endpoint changed.");
    if (client.preRegistered?.issuer && client.preRegistered.issuer !== pending.issuer) {
      throw new AppError("issuer_mismatch", OAUTH_ERROR_MESSAGES.issuer_mismatch);
    }
    const verifier = pending.verifier();
    const provider = new DbOAuthProvider({
      integration: integ,
      serverUrl: target.serverUrl,
      localOrigin: target.localOrigin,
      client,
      mode: { kind: "callback", verifier, discovery: endpoints.discovery },
      requestedScope: endpoints.scope,
    });
    const result = await auth(provider, {
      serverUrl: target.serverUrl,
      authorizationCode: code,
      iss: params.get("iss") ?? undefined,
      fetchFn,
    });
    if (result !== "AUTHORIZED")
      throw new AppError("token_exchange_failed", OAUTH_ERROR_MESSAGES.token_exchange_failed);
    await recordAuthorized(integ, client, pending.issuer, provider.discovery ?? endpoints.discovery);
  } catch (err) {
    const app = classifyOAuthError(err);
    const known = app.code in OAUTH_ERROR_MESSAGES ? app.code : "token_exchange_failed";
    return fail(integ, known, app, err);
  }
  const grant = await grantSummary(integ);
  await audit(userId, "oauth.callback", integrationTarget(integ), {
    outcome: "authorized",
    issuer: pending.issuer,
    scope: grant?.scope ?? null,
  });

  const returnTo = pending.returnTo;
  if (input.sync === false) return { ok: true, integrationId: integ.id, returnTo };
  const diff = await syncAfterAuthorization(userId, integ.id);
  return { ok: true, integrationId: integ.id, diff, returnTo };
}

/** Tokens are stored: bind pre-registered credentials to their issuer, mark the integration OAuth. */
async function recordAuthorized(
  integ: OAuthIntegration,
  client: ClientSource,
  issuer: string,
  discovery: OAuthDiscoveryState,
): Promise<void> {
  if (client.preRegistered) await bindPreRegisteredIssuer(client.preRegistered, issuer);
  await setIntegrationState(integ, {
    authKind: "oauth",
    status: "pending",
    lastError: null,
    stepUpScope: null,
    oauthDiscovery: discovery,
  });
}

/**
 * Re-syncs tools with the new grant. Authorized but the server failed to list tools: the sync recorded
 * its error on the integration, and this returns undefined.
 */
export async function syncAfterAuthorization(
  userId: string,
  integrationId: string,
): Promise<SyncDiff | undefined> {
  try {
    const authProvider = (await oauthProviderFor(userId, integrationId)) ?? undefined;
    return await syncIntegration(userId, integrationId, { authProvider });
  } catch (err) {
    log.info("sync after authorization failed", { integrationId, err: String(err) });
    return undefined;
  }
}

async function fail(
  integ: OAuthIntegration,
  error: string,
  app: AppError,
  cause?: unknown,
): Promise<CallbackResult> {
  if (error === "access_denied") {
    // A denied *re*connect keeps the working grant; otherwise the integration waits for authorization.
    const hasGrant = !!(await grantSummary(integ));
    await setIntegrationState(integ, {
      ...(hasGrant ? {} : { status: "needs_auth" }),
      lastError: app.message,
    });
    await audit(integ.userId, "oauth.callback", integrationTarget(integ), { outcome: "denied" });
  } else {
    await recordRejection(integ, "callback", app, cause);
  }
  return { ok: false, integrationId: integ.id, error };
}
