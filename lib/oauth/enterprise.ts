// Enterprise-managed authorization (cross-app access, ID-JAG; docs/oauth.md): a person who signed in
// through the app's OIDC provider has their ID token exchanged at that provider (RFC 8693 token exchange)
// for an identity assertion authorization grant for one integration's authorization server, which Poke
// then redeems there (RFC 7523 jwt-bearer grant) with its pre-registered client. No consent screen.
import { requestJwtAuthorizationGrant } from "@modelcontextprotocol/client";
import { readIdToken } from "@/lib/data/identity-assertions";
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import { assertSafeOAuthUrl, createOAuthFetch, type OAuthFetch } from "@/lib/oauth/net";

export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** The app's identity provider, when OIDC sign-in is configured (its client secret is optional here). */
function identityProvider(): { issuer: string; clientId: string; clientSecret?: string } | undefined {
  const e = env();
  if (!e.OIDC_ISSUER || !e.OIDC_CLIENT_ID) return undefined;
  return { issuer: e.OIDC_ISSUER, clientId: e.OIDC_CLIENT_ID, clientSecret: e.OIDC_CLIENT_SECRET };
}

/** Whether an authorization server accepts identity assertion grants (RFC 7523 jwt-bearer). */
export function offersJwtBearer(meta: { grant_types_supported?: string[] } | undefined): boolean {
  return !!meta?.grant_types_supported?.includes(JWT_BEARER_GRANT);
}

/** Whether this person can use enterprise-managed authorization now: the IdP is configured and they hold
 * an unexpired ID token from signing in through it. */
export async function enterpriseIdentityAvailable(userId: string): Promise<boolean> {
  return !!identityProvider() && !!(await readIdToken(userId));
}

/**
 * RFC 8693 at the IdP: the person's ID token for an ID-JAG addressed to `audience` (the integration's
 * authorization server issuer) for `resource` (the MCP server). Throws AppError `needs_sign_in` when the
 * person has no usable ID token (they sign in through the IdP again), `enterprise_denied` when the IdP
 * refuses.
 */
export async function requestIdJag(
  userId: string,
  target: { audience: string; resource: string; scope?: string },
  /** Already read by the caller (e.g. before taking a row lock); read here otherwise. */
  knownIdToken?: string,
): Promise<string> {
  const idp = identityProvider();
  if (!idp) {
    throw new AppError(
      "enterprise_unavailable",
      "The authorization server expects an identity assertion from the organization's identity provider, and none is configured (OIDC_ISSUER, OIDC_CLIENT_ID).",
      400,
    );
  }
  const idToken = knownIdToken ?? (await readIdToken(userId));
  if (!idToken) {
    throw new AppError(
      "needs_sign_in",
      "Sign in again through your organization's identity provider, then authorize this integration.",
      401,
    );
  }
  const fetchFn = createOAuthFetch();
  const tokenEndpoint = await idpTokenEndpoint(idp.issuer, fetchFn);
  try {
    const result = await requestJwtAuthorizationGrant({
      tokenEndpoint,
      audience: target.audience,
      resource: target.resource,
      idToken,
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      scope: target.scope,
      fetchFn,
    });
    return result.jwtAuthGrant;
  } catch (err) {
    if (isAppError(err)) throw err;
    throw new AppError(
      "enterprise_denied",
      "The organization's identity provider did not issue an authorization grant for this server.",
      502,
      { cause: err instanceof Error ? err.message.slice(0, 200) : undefined },
    );
  }
}

/**
 * The IdP's token endpoint from its OpenID configuration (the document sign-in uses). Only the fields this
 * needs are read, so an IdP whose document omits fields sign-in doesn't need still works; the issuer must
 * echo the configured one (OpenID Connect Discovery §4.3).
 */
async function idpTokenEndpoint(issuer: string, fetchFn: OAuthFetch): Promise<string> {
  const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const res = await fetchFn(url, { headers: { accept: "application/json" } });
  const doc = (res.ok ? await res.json().catch(() => undefined) : undefined) as
    { issuer?: unknown; token_endpoint?: unknown } | undefined;
  if (!doc || typeof doc.token_endpoint !== "string") {
    throw new AppError("bad_metadata", "The identity provider publishes no token endpoint.", 502);
  }
  const same = (a: string, b: string) => a.replace(/\/$/, "") === b.replace(/\/$/, "");
  if (typeof doc.issuer !== "string" || !same(doc.issuer, issuer)) {
    throw new AppError("issuer_mismatch", "The identity provider's configuration names another issuer.", 502);
  }
  return assertSafeOAuthUrl(doc.token_endpoint, "identity provider token endpoint").href;
}

/** The token request for an ID-JAG at the integration's authorization server (RFC 7523 §2.1). */
export function jwtBearerTokenRequest(assertion: string, scope?: string): URLSearchParams {
  const params = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion });
  if (scope) params.set("scope", scope);
  return params;
}
