// The template "Test" button: checks an (unsaved) template's server and authorization server and reports
// what it found. Stores nothing. Every request goes through egress (the MCP probe and Doctor) or the OAuth
// fetch layered on it (metadata), so the SSRF policy and size/time limits apply as for any connection.
import "server-only";
import {
  checkResourceAllowed,
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  resourceUrlFromServerUrl,
} from "@modelcontextprotocol/client";
import { isAppError } from "@/lib/errors";
import { assertAdmin, type Actor } from "@/lib/kitchen/admin";
import { runDoctorForUrl, type DoctorStep } from "@/lib/mcp/doctor";
import { quoteServerText } from "@/lib/mcp/errors";
import { validateUserUrl } from "@/lib/net/egress";
import { classifyOAuthError } from "@/lib/oauth/errors";
import { probeAuthChallenge } from "@/lib/oauth/flow";
import { assertSafeOAuthUrl, createOAuthFetch } from "@/lib/oauth/net";
import { templateTestSchema, type TemplateTestInput } from "@/lib/schemas/kitchen";

export type Check = { id: string; status: "ok" | "warn" | "fail" | "info"; message: string };
type AddCheck = (id: string, status: Check["status"], message: string) => void;

export type AuthorizationFindings = {
  /** HTTP status of an unauthenticated initialize. */
  challengeStatus?: number;
  resourceMetadataUrl?: string;
  resource?: string;
  authorizationServers: string[];
  issuer?: string;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  registrationEndpoint?: string;
  dynamicRegistration: boolean;
  pkceS256: boolean;
  tokenEndpointAuthMethods: string[];
  scopesSupported: string[];
};

export type TemplateTestResult = {
  url: string;
  doctor: DoctorStep[];
  authorization?: AuthorizationFindings;
  checks: Check[];
};

const text = (v: unknown, max = 200) => (typeof v === "string" ? quoteServerText(v, max) : undefined);
const strings = (v: unknown) =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string").slice(0, 50) : [];

export async function testTemplate(actor: Actor, input: TemplateTestInput): Promise<TemplateTestResult> {
  await assertAdmin(actor);
  const t = templateTestSchema.parse(input);
  const url = validateUserUrl(t.serverUrl);
  const checks: Check[] = [];
  const add: AddCheck = (id, status, message) => void checks.push({ id, status, message });
  const doctor = await runDoctorForUrl({ userId: actor.id, url: url.href });
  const authStep = doctor.find((s) => s.id === "auth");
  // An authorization failure is expected for key/OAuth templates; any earlier failure means no server.
  const failed = doctor.find((s) => s.status === "fail");
  if (failed && failed.id !== "auth") {
    add("server", "fail", "The server could not be reached; see the steps.");
    return { url: url.href, doctor, checks };
  }
  if (t.authKind === "none") {
    if (authStep?.status === "ok") add("auth", "ok", "The server answers without authorization.");
    else add("auth", "warn", "The server asks for authorization, but the template has none.");
    return { url: url.href, doctor, checks };
  }
  if (t.authKind === "api_key") {
    if (authStep?.status === "fail")
      add("auth", "info", "The server requires credentials: each user will enter their API key.");
    else add("auth", "warn", "The server answered without a key; an API key may not be needed.");
    return { url: url.href, doctor, checks };
  }
  const authorization = await inspectAuthorization(actor, url, t, add);
  return { url: url.href, doctor, authorization, checks };
}

async function inspectAuthorization(
  actor: Actor,
  url: URL,
  t: ReturnType<typeof templateTestSchema.parse>,
  add: AddCheck,
): Promise<AuthorizationFindings> {
  const f: AuthorizationFindings = {
    authorizationServers: [],
    dynamicRegistration: false,
    pkceS256: false,
    tokenEndpointAuthMethods: [],
    scopesSupported: [],
  };
  // 1. The 401 challenge names the protected-resource metadata first (docs/security.md §7).
  let resourceMetadataUrl: URL | undefined;
  try {
    const challenge = await probeAuthChallenge(url, actor.id);
    f.challengeStatus = challenge.status;
    if (challenge.status === 401 || challenge.status === 403) {
      resourceMetadataUrl = challenge.resourceMetadataUrl;
      if (resourceMetadataUrl) f.resourceMetadataUrl = resourceMetadataUrl.href;
    } else {
      const status = challenge.status;
      add("challenge", "warn", `The server answered ${status} without a token; OAuth may not be required.`);
    }
  } catch (e) {
    add("challenge", "fail", classifyOAuthError(e).message);
    return f;
  }

  // 2. Protected-resource metadata (RFC 9728) → its authorization server.
  const fetchFn = createOAuthFetch();
  let asUrl = new URL("/", url).href;
  try {
    const prm = await discoverOAuthProtectedResourceMetadata(url, { resourceMetadataUrl }, fetchFn);
    f.resource = text(prm.resource, 2048);
    f.authorizationServers = strings(prm.authorization_servers);
    if (f.authorizationServers[0]) asUrl = assertSafeOAuthUrl(f.authorizationServers[0], "address").href;
    const matches = checkResourceAllowed({
      requestedResource: resourceUrlFromServerUrl(url.href),
      configuredResource: prm.resource,
    });
    if (matches) add("resource", "ok", "The protected-resource metadata names this server.");
    else
      add(
        "resource",
        "fail",
        `The protected-resource metadata names another resource (${f.resource}); connections will be refused.`,
      );
  } catch (e) {
    const app = classifyOAuthError(e);
    if (app.code === "unsafe_metadata") {
      add("resource", "fail", app.message);
      return f;
    }
    add(
      "resource",
      "warn",
      "No protected-resource metadata (RFC 9728); the server's origin is assumed to be the authorization server.",
    );
  }

  // 3. Authorization-server metadata (RFC 8414 / OIDC), issuer checked against where it was fetched from.
  let meta: Record<string, unknown> | undefined;
  try {
    meta = (await discoverAuthorizationServerMetadata(asUrl, { fetchFn })) as
      Record<string, unknown> | undefined;
  } catch (e) {
    add("metadata", "fail", classifyOAuthError(e).message);
    return f;
  }
  if (!meta) {
    add(
      "metadata",
      "fail",
      "The authorization server publishes no metadata (RFC 8414 / OpenID discovery); Poke can't use it.",
    );
    return f;
  }
  f.issuer = text(meta.issuer, 2048);
  f.authorizationEndpoint = text(meta.authorization_endpoint, 2048);
  f.tokenEndpoint = text(meta.token_endpoint, 2048);
  f.registrationEndpoint = text(meta.registration_endpoint, 2048);
  f.dynamicRegistration = !!f.registrationEndpoint;
  f.pkceS256 = strings(meta.code_challenge_methods_supported).includes("S256");
  f.tokenEndpointAuthMethods = strings(meta.token_endpoint_auth_methods_supported);
  f.scopesSupported = strings(meta.scopes_supported);
  add("metadata", "ok", `Authorization server ${f.issuer} found.`);

  for (const [key, label] of [
    ["authorization_endpoint", "authorization endpoint"],
    ["token_endpoint", "token endpoint"],
    ["registration_endpoint", "registration endpoint"],
  ] as const) {
    if (meta[key] === undefined) continue;
    try {
      assertSafeOAuthUrl(meta[key], label);
    } catch (e) {
      add(key, "fail", isAppError(e) ? e.message : `Unsafe ${label}.`);
    }
  }
  if (f.pkceS256) add("pkce", "ok", "PKCE with S256 is supported.");
  else add("pkce", "fail", "The authorization server does not advertise PKCE S256; Poke refuses it.");
  if (t.clientId && f.dynamicRegistration) {
    add(
      "client",
      "info",
      "Dynamic registration is offered too; the template's client credentials will be used.",
    );
  } else if (t.clientId) {
    add("client", "info", "No dynamic registration: the template's client credentials will be used.");
  } else if (f.dynamicRegistration) {
    add("client", "ok", "Dynamic client registration is offered: no client ID needed.");
  } else {
    add(
      "client",
      "fail",
      "No dynamic client registration: enter the client ID and secret registered at this server.",
    );
  }
  const method = t.tokenEndpointAuthMethod;
  if (method && f.tokenEndpointAuthMethods.length && !f.tokenEndpointAuthMethods.includes(method)) {
    add(
      "auth_method",
      "warn",
      `The server advertises ${f.tokenEndpointAuthMethods.join(", ")}, not ${method}.`,
    );
  }
  const missing = (t.scopes ?? "")
    .split(" ")
    .filter((s) => s && f.scopesSupported.length && !f.scopesSupported.includes(s));
  if (missing.length) {
    add("scopes", "warn", `Scopes not advertised by the server: ${missing.join(", ")}.`);
  }
  if (t.issuer && f.issuer && t.issuer !== f.issuer) {
    add(
      "issuer",
      "fail",
      `The credentials are bound to ${t.issuer}, but the server now names ${f.issuer}: its integrations fail closed (the secret is not sent there) until the credentials are updated.`,
    );
  } else if (t.issuer && f.issuer) {
    add("issuer", "ok", "The credentials' issuer matches.");
  } else if (f.issuer) {
    add(
      "issuer",
      "info",
      `Save ${f.issuer} as the issuer to bind the credentials to it now (otherwise the first sign-in binds them).`,
    );
  }
  return f;
}
