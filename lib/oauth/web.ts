// HTTP shells around the flow for the route handlers: the browser-binding cookie, redirects and response
// headers. Sessions and Origin checks stay in the route files (they need Next); everything else is here so
// tests can call it with a constructed Request.
import { randomToken } from "@/lib/crypto";
import { env } from "@/lib/env";
import { isAppError } from "@/lib/errors";
import { log } from "@/lib/log";
import {
  completeAuthorization,
  PENDING_TTL_MS,
  startAuthorization,
  syncAfterAuthorization,
} from "@/lib/oauth/flow";
import { callbackUrl, clientMetadataDocumentUrl } from "@/lib/oauth/net";
import { CLIENT_NAME } from "@/lib/oauth/provider";

export const BROWSER_COOKIE = "poke_oauth_browser";
const BINDING_RE = /^[A-Za-z0-9_-]{43}$/;
const MAX_FORM_BYTES = 16 * 1024;

/** Pages that start OAuth can't be framed (docs/security.md §5); nothing here may be cached or leak a
 * referrer. */
const BASE_HEADERS: Record<string, string> = {
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": "frame-ancestors 'none'",
};

const jsonError = (code: string, message: string, status: number) =>
  Response.json({ error: { code, message } }, { status });

function redirect(location: string, extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { ...BASE_HEADERS, location, ...extra } });
}

const appUrl = (path: string) => `${env().APP_URL}${path}`;
const integrationPage = (id: string, query: string) =>
  appUrl(`/integrations/${encodeURIComponent(id)}?${query}`);

export function readBrowserBinding(req: Request): string | undefined {
  const header = req.headers.get("cookie") ?? "";
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === BROWSER_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return BINDING_RE.test(value) ? value : undefined;
    }
  }
  return undefined;
}

export function browserCookie(value: string): string {
  const secure = env().APP_URL.startsWith("https://") ? "; Secure" : "";
  return `${BROWSER_COOKIE}=${value}; Path=/api/oauth; Max-Age=${PENDING_TTL_MS / 1000}; HttpOnly; SameSite=Lax${secure}`;
}

/**
 * POST /api/oauth/start (form field `integrationId`). The route has already checked Origin; `user` is the
 * session user. Answers 303 to the authorization server, or back to the integration with `oauth_error`.
 */
export async function handleStartRequest(req: Request, user: { id: string } | null): Promise<Response> {
  if (!user) return redirect(appUrl("/sign-in"));
  if (Number(req.headers.get("content-length") ?? 0) > MAX_FORM_BYTES) {
    return jsonError("too_large", "Request too large", 413);
  }
  let integrationId = "";
  let returnTo: string | undefined;
  try {
    const form = await req.formData();
    integrationId = String(form.get("integrationId") ?? "");
    // Only the Kitchen install page may ask to be returned to (a fixed shape, never an arbitrary URL).
    const rt = String(form.get("returnTo") ?? "");
    if (/^\/r\/rcp_[A-Za-z0-9_-]{43}$/.test(rt)) returnTo = rt;
  } catch {
    /* answered below */
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(integrationId)) {
    return jsonError("invalid_input", "integrationId is required", 400);
  }
  // One binding per browser, reused across tabs so parallel flows don't invalidate each other.
  const binding = readBrowserBinding(req) ?? randomToken("", 32);
  try {
    const { authorizationUrl } = await startAuthorization({
      userId: user.id,
      integrationId,
      browserBinding: binding,
      returnTo,
    });
    if (authorizationUrl) return redirect(authorizationUrl, { "set-cookie": browserCookie(binding) });
    // Issued at once (a machine-to-machine authorization server): no consent page to visit.
    await syncAfterAuthorization(user.id, integrationId);
    return redirect(returnTo ? appUrl(returnTo) : integrationPage(integrationId, "connected=1"));
  } catch (err) {
    if (isAppError(err) && err.code === "not_found")
      return jsonError("not_found", "Integration not found", 404);
    if (!isAppError(err)) log.error("oauth start failed", err);
    const code = isAppError(err) ? err.code : "internal";
    return redirect(integrationPage(integrationId, `oauth_error=${encodeURIComponent(code)}`));
  }
}

/** GET /api/oauth/callback?code&state&iss (or error). Always answers with a redirect. */
export async function handleCallbackRequest(req: Request, user: { id: string } | null): Promise<Response> {
  const url = new URL(req.url);
  if (!user) {
    const back = `/api/oauth/callback${url.search}`;
    return redirect(appUrl(`/sign-in?callbackUrl=${encodeURIComponent(back)}`));
  }
  try {
    const result = await completeAuthorization({
      userId: user.id,
      browserBinding: readBrowserBinding(req),
      params: url.searchParams,
    });
    if (result.ok) {
      return redirect(
        result.returnTo
          ? appUrl(`${result.returnTo}?connected=${encodeURIComponent(result.integrationId)}`)
          : integrationPage(result.integrationId, "connected=1"),
      );
    }
    const query = `oauth_error=${encodeURIComponent(result.error)}`;
    return redirect(
      result.integrationId ? integrationPage(result.integrationId, query) : appUrl(`/integrations?${query}`),
    );
  } catch (err) {
    log.error("oauth callback failed", err);
    return redirect(appUrl("/integrations?oauth_error=authorization_failed"));
  }
}

/** GET /api/oauth/client-metadata — the client ID metadata document (public, no secrets). */
export function clientMetadataDocument(): Response {
  const id = clientMetadataDocumentUrl();
  if (!id) return new Response("Not found", { status: 404 });
  return Response.json(
    {
      client_id: id,
      client_name: CLIENT_NAME,
      client_uri: env().APP_URL,
      redirect_uris: [callbackUrl()],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "web",
    },
    { headers: { "cache-control": "public, max-age=3600" } },
  );
}
