// The DB-backed OAuthClientProvider for the MCP SDK v2, one instance per (user, integration, request).
// The SDK's auth() drives discovery, client identity, PKCE and the code exchange; this class decides what
// is trusted: every discovered document is validated in saveDiscoveryState() before the SDK registers a
// client or builds an authorization URL, credentials are bound to their issuer, and the pending
// authorization (state, verifier, discovery snapshot) lives in the database between the two legs.
import {
  checkResourceAllowed,
  resourceUrlFromServerUrl,
  type OAuthClientInformationContext,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from "@modelcontextprotocol/client";
import { audit } from "@/lib/data/audit";
import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { assertJsonShape } from "@/lib/limits/json-shape";
import { privateKeyJwtAuth } from "@/lib/oauth/client-key";
import { jwtBearerTokenRequest, offersJwtBearer, requestIdJag } from "@/lib/oauth/enterprise";
import { metadataIssuerMismatch } from "@/lib/oauth/errors";
import { PROTECTED_AUTH_PARAMS as PROTECTED_AUTH_PARAM_NAMES } from "@/lib/schemas/kitchen";
import { assertSafeOAuthUrl, callbackUrl, clientMetadataDocumentUrl } from "@/lib/oauth/net";
import {
  authMethod,
  deleteDynamicClients,
  findDynamicClient,
  readGrant,
  saveDynamicClient,
  setIntegrationState,
  writeGrant,
  type ClientSource,
  type OAuthIntegration,
  type TokenAuthMethod,
} from "@/lib/data/grants";

export const CLIENT_NAME = "Poke";

/** Authorization parameters a template can't override: they carry the flow's security properties. */
const PROTECTED_AUTH_PARAMS = new Set(PROTECTED_AUTH_PARAM_NAMES);

/**
 * - start: discover afresh, register if needed, capture state/verifier/URL (persisted by the caller).
 * - callback: exchange a code against the discovery snapshot recorded when the flow started.
 */
export type ProviderMode =
  { kind: "start"; state: string } | { kind: "callback"; verifier: string; discovery: OAuthDiscoveryState };

export type ProviderInit = {
  integration: OAuthIntegration;
  /** The MCP server URL as the server knows itself (oauthTargetFor): what its metadata must name. */
  serverUrl: string;
  /** OAuthTarget.localOrigin: a tunneled local server's origin, where plain http is acceptable. */
  localOrigin?: string;
  client: ClientSource;
  mode: ProviderMode;
  /** The person holds an identity assertion from the app's identity provider (enterprise.ts). */
  enterpriseIdentity?: boolean;
  /** The scope this authorization asks for (consented to, for an authorization code). */
  requestedScope?: string;
};

export function clientMetadataFor(): OAuthClientMetadata {
  const cb = callbackUrl();
  return {
    client_name: CLIENT_NAME,
    redirect_uris: [cb],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    // A confidential web client; an AS that doesn't support it says so in its registration response.
    token_endpoint_auth_method: "client_secret_basic",
  };
}

/** The SDK's client information for stored credentials (template, CLI or a dynamic registration). */
export const clientInformationOf = (c: {
  clientId: string;
  clientSecret?: string;
  tokenEndpointAuthMethod?: TokenAuthMethod;
}) => ({
  client_id: c.clientId,
  ...(c.clientSecret ? { client_secret: c.clientSecret } : {}),
  ...(c.tokenEndpointAuthMethod ? { token_endpoint_auth_method: c.tokenEndpointAuthMethod } : {}),
});

/** The resource indicator to send (RFC 8707), per the template's resource mode. */
export function resourceFor(
  client: ClientSource,
  discovery: OAuthDiscoveryState | null | undefined,
): string | undefined {
  const mode = client.template?.resourceMode ?? "default";
  if (mode === "omit") return undefined;
  if (mode === "override") return client.template?.resourceOverride;
  return discovery?.resourceMetadata?.resource;
}

export class DbOAuthProvider implements OAuthClientProvider {
  readonly clientMetadataUrl?: string;
  saveClientInformation?: OAuthClientProvider["saveClientInformation"];
  validateResourceURL?: OAuthClientProvider["validateResourceURL"];
  addClientAuthentication?: OAuthClientProvider["addClientAuthentication"];

  /** Outputs of the start leg. */
  authorizationUrl?: URL;
  /** The server publishes no metadata: its 2025-03-26 default endpoints are in use. */
  legacyEndpoints = false;
  codeVerifierValue?: string;
  discovery?: OAuthDiscoveryState;

  constructor(private readonly o: ProviderInit) {
    const pre = o.client.preRegistered;
    if (pre?.privateKey) this.addClientAuthentication = privateKeyJwtAuth(pre.clientId, pre.privateKey);
    if (!pre) {
      // Only dynamic identities are saved; template/CLI credentials are configuration (docs/design.md §6.5).
      this.saveClientInformation = (info, ctx) => this.saveDynamic(info, ctx);
      this.clientMetadataUrl = clientMetadataDocumentUrl();
    }
    const t = o.client.template;
    if (t?.resourceMode === "omit") this.validateResourceURL = async () => undefined;
    if (t?.resourceMode === "override") {
      const override = assertSafeOAuthUrl(t.resourceOverride, "resource override");
      this.validateResourceURL = async () => override;
    }
    if (o.mode.kind === "callback") this.discovery = o.mode.discovery;
  }

  /**
   * No browser leg: the authorization server issues tokens to clients themselves (see machineGrant) or
   * for the person's identity assertion (see enterpriseGrant). Decided once discovery is known, before
   * the SDK asks.
   */
  get redirectUrl(): string | undefined {
    return this.grantKind() === "authorization_code" ? callbackUrl() : undefined;
  }

  /** What this authorization obtains its tokens with. */
  grantKind(): "authorization_code" | "client_credentials" | "jwt_bearer" {
    const meta = this.discovery?.authorizationServerMetadata;
    if (machineGrant(meta, this.o.client)) return "client_credentials";
    if (enterpriseGrant(meta, this.o.client, !!this.o.enterpriseIdentity)) return "jwt_bearer";
    return "authorization_code";
  }

  async prepareTokenRequest(scope?: string): Promise<URLSearchParams | undefined> {
    const kind = this.grantKind();
    if (kind === "client_credentials") return machineTokenRequest(scope);
    if (kind !== "jwt_bearer") return undefined;
    const state = this.discovery!;
    const jag = await requestIdJag(this.o.integration.userId, {
      audience: state.authorizationServerMetadata!.issuer,
      resource: resourceFor(this.o.client, state) ?? resourceUrlFromServerUrl(this.o.serverUrl).href,
      scope,
    });
    return jwtBearerTokenRequest(jag, scope);
  }

  get clientMetadata(): OAuthClientMetadata {
    return clientMetadataFor();
  }

  async state(): Promise<string> {
    // Only the start leg may begin an authorization; elsewhere (a code exchange that failed and is being
    // retried by the SDK) a new redirect would have no browser to go to.
    if (this.o.mode.kind !== "start") {
      throw new AppError(
        "token_exchange_failed",
        "The authorization server did not issue tokens. Try again.",
        502,
      );
    }
    return this.o.mode.state;
  }

  async clientInformation(
    ctx?: OAuthClientInformationContext,
  ): Promise<StoredOAuthClientInformation | undefined> {
    const pre = this.o.client.preRegistered;
    // The issuer stamp makes the SDK refuse to use them at another AS (AuthorizationServerMismatchError).
    if (pre) return { ...clientInformationOf(pre), ...(pre.issuer ? { issuer: pre.issuer } : {}) };
    if (!ctx?.issuer) return undefined;
    const c = await findDynamicClient(this.o.integration, ctx.issuer, callbackUrl());
    return c && { ...clientInformationOf(c), redirect_uris: [c.redirectUri], issuer: ctx.issuer };
  }

  private async saveDynamic(info: StoredOAuthClientInformation, ctx?: OAuthClientInformationContext) {
    const issuer = ctx?.issuer ?? info.issuer;
    if (!issuer) throw new AppError("oauth_failed", "The client registration has no issuer to bind to.", 500);
    const cimd = !!this.clientMetadataUrl && info.client_id === this.clientMetadataUrl;
    await saveDynamicClient(this.o.integration, issuer, {
      clientId: info.client_id,
      clientSecret: info.client_secret,
      tokenEndpointAuthMethod: authMethod(
        (info as { token_endpoint_auth_method?: string }).token_endpoint_auth_method,
      ),
      redirectUri: callbackUrl(),
      source: cimd ? "cimd" : "dcr",
    });
    await audit(this.o.integration.userId, "oauth.client_registered", integrationTarget(this.o.integration), {
      issuer,
      method: cimd ? "cimd" : "dcr",
    });
  }

  async tokens(): Promise<StoredOAuthTokens | undefined> {
    // The start leg always asks for a new authorization, so it never needs (or refreshes) stored tokens.
    if (this.o.mode.kind === "start") return undefined;
    return (await readGrant(this.o.integration))?.tokens;
  }

  async saveTokens(tokens: StoredOAuthTokens, ctx?: OAuthClientInformationContext): Promise<void> {
    const issuer = ctx?.issuer ?? tokens.issuer;
    if (!issuer) throw new AppError("oauth_failed", "The tokens have no issuer to bind to.", 500);
    // RFC 6749 §5.1: a response without `scope` grants what was requested. What the person consented to
    // is kept beside it: a later step-up within it needs no second consent (docs/oauth.md).
    const requested = this.o.requestedScope;
    const scope = tokens.scope ?? requested;
    await writeGrant(
      this.o.integration,
      {
        ...tokens,
        ...(scope ? { scope } : {}),
        ...(requested && this.redirectUrl ? { consented_scope: requested } : {}),
      },
      issuer,
    );
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    assertSafeOAuthUrl(url.href, "authorization endpoint", this.o.localOrigin);
    for (const [k, v] of Object.entries(this.o.client.template?.extraAuthParams ?? {})) {
      if (!PROTECTED_AUTH_PARAMS.has(k.toLowerCase())) url.searchParams.set(k, v);
    }
    this.authorizationUrl = url;
  }

  async saveCodeVerifier(verifier: string): Promise<void> {
    this.codeVerifierValue = verifier;
  }

  async codeVerifier(): Promise<string> {
    if (this.o.mode.kind !== "callback")
      throw new AppError("invalid_state", "No pending authorization.", 400);
    return this.o.mode.verifier;
  }

  async saveDiscoveryState(found: OAuthDiscoveryState): Promise<void> {
    const state = withLegacyEndpoints(found);
    this.legacyEndpoints = state !== found;
    validateDiscovery(state, this.o.serverUrl, this.o.client, this.o.localOrigin);
    // Kept in memory: the start leg records it on the pending row, the callback leg on the integration
    // once tokens exist, so an abandoned flow never changes what an existing grant refreshes against.
    this.discovery = state;
  }

  async discoveryState(): Promise<OAuthDiscoveryState | undefined> {
    return this.discovery;
  }

  async invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery"): Promise<void> {
    const integ = this.o.integration;
    if ((scope === "all" || scope === "client") && !this.o.client.preRegistered) {
      const issuer = this.discovery?.authorizationServerMetadata?.issuer;
      if (issuer) await deleteDynamicClients(integ, issuer);
    }
    if (scope === "all" || scope === "discovery") {
      this.discovery = undefined;
      await setIntegrationState(integ, { oauthDiscovery: null });
    }
    // Template/CLI credentials are never deleted: they are an admin's or the CLI's configuration.
    // Tokens are never dropped from here: the SDK calls this on a failed code exchange too, which must
    // not cost an existing working grant (refresh failures are handled in grant.ts).
    if (this.o.mode.kind === "callback") {
      // Stop the SDK's automatic retry of the same code: a second redemption only looks like replay.
      throw new AppError(
        "token_exchange_failed",
        scope === "client"
          ? "The authorization server rejected Poke's client credentials. Try connecting again."
          : "The authorization server did not issue tokens. Try connecting again.",
        502,
      );
    }
  }
}

/**
 * Machine-to-machine authorization servers (OAuth client credentials, SEP-1046): when the metadata offers
 * `client_credentials` but not `authorization_code`, there is no person to send to a consent page; with a
 * client id + secret supplied out of band (Kitchen template, `poke tunnel --client-id/--client-secret`)
 * Poke requests tokens for the integration directly, and again when they expire.
 */
export function machineGrant(
  meta: { grant_types_supported?: string[] } | undefined,
  client: ClientSource,
): boolean {
  const grants = meta?.grant_types_supported;
  const pre = client.preRegistered;
  return (
    !!grants?.includes("client_credentials") &&
    !grants.includes("authorization_code") &&
    !!(pre?.clientSecret || pre?.privateKey)
  );
}

/**
 * Enterprise-managed authorization (lib/oauth/enterprise.ts): the authorization server accepts identity
 * assertion grants and Poke holds a pre-registered client for it; used when the person holds an identity
 * assertion (no consent screen), and always when the server offers no authorization code flow.
 */
export function enterpriseGrant(
  meta: { grant_types_supported?: string[] } | undefined,
  client: ClientSource,
  identityAvailable: boolean,
): boolean {
  if (!offersJwtBearer(meta) || !client.preRegistered) return false;
  return identityAvailable || !meta!.grant_types_supported!.includes("authorization_code");
}

export function machineTokenRequest(scope?: string): URLSearchParams {
  const params = new URLSearchParams({ grant_type: "client_credentials" });
  if (scope) params.set("scope", scope);
  return params;
}

/**
 * Servers of the 2025-03-26 revision may publish no metadata at all; that revision has clients use the
 * default endpoints on the server's origin and made PKCE mandatory on both sides, so S256 is implied.
 * Only when nothing at all was found (no protected-resource metadata either: a newer server that names an
 * authorization server must publish its metadata) and OAUTH_LEGACY_ENDPOINTS allows it.
 */
export function withLegacyEndpoints(state: OAuthDiscoveryState): OAuthDiscoveryState {
  if (state.authorizationServerMetadata || state.resourceMetadata || !env().OAUTH_LEGACY_ENDPOINTS)
    return state;
  const base = state.authorizationServerUrl;
  const at = (path: string) => new URL(path, base).href;
  return {
    ...state,
    authorizationServerMetadata: {
      issuer: String(base),
      authorization_endpoint: at("/authorize"),
      token_endpoint: at("/token"),
      registration_endpoint: at("/register"),
      response_types_supported: ["code"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      code_challenge_methods_supported: ["S256"],
    },
  };
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

export const integrationTarget = (integ: { id: string }) => ({ type: "integration", id: integ.id });

const METADATA_URL_FIELDS = /(_endpoint|^jwks_uri|^issuer)$/;

/**
 * docs/security.md §7–10 on a freshly discovered state, before it is used for anything: metadata must exist,
 * offer PKCE S256, use safe URLs, and the protected resource must be this server; pre-registered
 * credentials must belong to this issuer.
 */
export function validateDiscovery(
  state: OAuthDiscoveryState,
  serverUrl: string,
  client: ClientSource,
  localOrigin?: string,
): void {
  // Stored as JSON and serialized again later: measured before anything else (docs/security.md §14).
  assertJsonShape(state, "The authorization server's metadata");
  const meta = state.authorizationServerMetadata as Record<string, unknown> | undefined;
  if (!meta) {
    throw new AppError(
      "no_metadata",
      "The authorization server publishes no metadata (RFC 8414 / OpenID discovery), so PKCE support can't be verified; refusing to continue.",
      400,
    );
  }
  assertSafeOAuthUrl(state.authorizationServerUrl, "address", localOrigin);
  const prm = state.resourceMetadata;
  // RFC 8414 §3.3 issuer echo. Servers of the 2025-03-26 revision (no protected-resource metadata) host
  // their metadata at the server's origin, where it may name an issuer under a path of that same origin:
  // accepted, since the same origin controls both.
  const expected = String(state.authorizationServerUrl);
  const issuer = String(meta.issuer ?? "");
  const echoes = issuer === expected || (expected.endsWith("/") && issuer === expected.slice(0, -1));
  if (!echoes && !(!prm && sameOrigin(issuer, expected))) throw metadataIssuerMismatch(expected, issuer);
  for (const [key, value] of Object.entries(meta)) {
    if (METADATA_URL_FIELDS.test(key) && value !== undefined)
      assertSafeOAuthUrl(value, key.replace(/_/g, " "), localOrigin);
  }
  const grants = meta.grant_types_supported;
  const noCodeFlow = Array.isArray(grants) && !grants.includes("authorization_code");
  const machineOnly = noCodeFlow && grants.includes("client_credentials");
  if (machineOnly && !machineGrant(meta, client)) {
    throw new AppError(
      "machine_client_needed",
      "The authorization server issues tokens only to registered machine clients (client credentials): an admin must supply a client id and a secret or private key (Kitchen template), or use `poke tunnel --client-id` with `--client-secret` or `--client-key`.",
      400,
    );
  }
  if (noCodeFlow && !machineOnly && offersJwtBearer(meta) && !client.preRegistered) {
    throw new AppError(
      "client_required",
      "The authorization server accepts only identity assertions from an organization's identity provider (enterprise-managed authorization): an admin must supply the client id and secret registered there (Kitchen template).",
      400,
    );
  }
  const methods = meta.code_challenge_methods_supported;
  const pkceNeeded = !noCodeFlow; // no authorization code, nothing for PKCE to protect
  if (pkceNeeded && (!Array.isArray(methods) || !methods.includes("S256"))) {
    throw new AppError(
      "pkce_unsupported",
      "The authorization server does not advertise PKCE with S256 (code_challenge_methods_supported); refusing to continue.",
      400,
    );
  }
  if (prm) {
    for (const as of prm.authorization_servers ?? [])
      assertSafeOAuthUrl(as, "authorization server address", localOrigin);
    const allowed = checkResourceAllowed({
      requestedResource: resourceUrlFromServerUrl(serverUrl),
      configuredResource: prm.resource,
    });
    if (!allowed) {
      throw new AppError(
        "resource_mismatch",
        "The server's protected-resource metadata names a different resource than this server's URL; refusing to continue.",
        400,
      );
    }
  }
  const bound = client.preRegistered?.issuer;
  if (bound && bound !== meta.issuer) {
    throw new AppError(
      "issuer_mismatch",
      "The server now names a different authorization server than the one its client credentials belong to; they were not sent. An admin must update the credentials.",
      400,
    );
  }
}
