// Outbound side of the OAuth client: the URL policy every authorization-server URL must pass
// (docs/security.md §10) and the one fetch all OAuth and metadata requests use, layered on the egress
// module (§12–14).
import { AppError, isAppError } from "@/lib/errors";
import { env } from "@/lib/env";
import { createEgressFetch, LIMITS, type FetchLike } from "@/lib/net/egress";
import { createTunnelFetch, tunnelRouteFor } from "@/lib/tunnel/fetch";

/** Total time for one OAuth request (metadata, registration, token, revocation). */
export const OAUTH_REQUEST_TIMEOUT_MS = 30_000;

export function callbackUrl(): string {
  return `${env().APP_URL}/api/oauth/callback`;
}

/**
 * The client ID metadata document URL: where OAUTH_CLIENT_METADATA_URL says it is published, else this
 * app's own route — offered only over https (SDK rule).
 */
export function clientMetadataDocumentUrl(): string | undefined {
  const { APP_URL, OAUTH_CLIENT_METADATA_URL } = env();
  const url = OAUTH_CLIENT_METADATA_URL ?? `${APP_URL}/api/oauth/client-metadata`;
  return url.startsWith("https://") ? url : undefined;
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Validates a URL an authorization server or resource server handed us, before it is fetched or sent to a
 * browser: https only (http only for loopback when ALLOW_PRIVATE_NETWORK is on, or on `localOrigin`, the
 * origin of a tunneled local server), no credentials. `what` names the field for the error message.
 */
export function assertSafeOAuthUrl(raw: unknown, what: string, localOrigin?: string): URL {
  let url: URL;
  try {
    if (typeof raw !== "string" && !(raw instanceof URL)) throw new Error("not a string");
    url = new URL(String(raw));
  } catch {
    throw unsafe(what, "is not a valid URL");
  }
  if (url.protocol === "http:") {
    const tunneled = !!localOrigin && url.origin === localOrigin;
    if (!tunneled && !(isLoopbackHost(url.hostname) && env().ALLOW_PRIVATE_NETWORK)) {
      throw unsafe(what, `uses plain http (${url.host}); only https is accepted`);
    }
  } else if (url.protocol !== "https:") {
    throw unsafe(
      what,
      `uses the ${url.protocol.replace(/[^a-z0-9+.-]/gi, "")} scheme; only https is accepted`,
    );
  }
  if (url.username || url.password) throw unsafe(what, "contains a user name or password");
  if (!url.hostname) throw unsafe(what, "has no host");
  return url;
}

function unsafe(what: string, why: string): AppError {
  return new AppError(
    "unsafe_metadata",
    `The authorization server's ${what} ${why}; refusing to use it.`,
    400,
    { field: what },
  );
}

/** Rejects with the request's own AppError (see EgressFetch), so auth() errors carry their cause. */
export type OAuthFetch = FetchLike;

/**
 * fetch for the SDK's OAuth calls: validates the URL first, then goes through egress (SSRF policy on
 * resolved addresses, no cross-origin redirects for token requests, 1 MiB document cap). Responses are
 * re-wrapped as global `Response`s because the SDK parses OAuth error bodies only when
 * `response instanceof Response`, which the undici package's class is not — without this an
 * `invalid_grant` would read as a generic server error.
 */
export function createOAuthFetch(): OAuthFetch {
  const egress = createEgressFetch({ purpose: "oauth" });
  return async (input, init = {}) => {
    const url = assertSafeOAuthUrl(input instanceof Request ? input.url : String(input), "endpoint");
    const timeout = AbortSignal.timeout(OAUTH_REQUEST_TIMEOUT_MS);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const res = await egress(url, { ...init, signal });
      const nullBody = res.status === 204 || res.status === 205 || res.status === 304 || !res.body;
      return new Response(nullBody ? null : res.body, {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    } catch (err) {
      // Egress rejects with an AppError except when the signal aborted: our time limit, or the caller's.
      if (isAppError(err) || !timeout.aborted) throw err;
      throw new AppError(
        "timeout",
        `${url.host} did not answer within ${OAUTH_REQUEST_TIMEOUT_MS / 1000} s.`,
        504,
      );
    }
  };
}

/**
 * Where the OAuth client reaches an integration's server from: the MCP server URL as the server itself
 * knows it (what its protected-resource metadata must name, and where well-known discovery starts) and the
 * fetch for metadata, registration, token and revocation requests. For an ordinary integration these are
 * its URL and createOAuthFetch(). For a local server behind `poke tunnel` the server knows itself by its
 * local URL, and requests to that local origin travel through the owner's tunnel.
 */
export type OAuthTarget = {
  serverUrl: string;
  fetch: OAuthFetch;
  /** The tunneled local origin: reached only through the owner's tunnel, so plain http is fine there. */
  localOrigin?: string;
};

/** Throws AppError `tunnel_offline` (transient) when the integration's tunnel is not connected. */
export async function oauthTargetFor(integ: { url: string; userId: string }): Promise<OAuthTarget> {
  let url: URL | undefined;
  try {
    url = new URL(integ.url);
  } catch {
    /* not a tunnel route; the flow reports the URL itself */
  }
  const route = url && (await tunnelRouteFor(url, integ.userId));
  if (!route) return { serverUrl: integ.url, fetch: createOAuthFetch() };
  return {
    serverUrl: route.localUrl.href,
    fetch: createTunneledOAuthFetch(integ.userId, route.tunnelId, route.localUrl.origin),
    localOrigin: route.localUrl.origin,
  };
}

/**
 * OAuth fetch for a tunneled server: URLs on the local origin go through the owner's tunnel (never through
 * egress: the app can't and mustn't reach the person's loopback), everything else (a public authorization
 * server, say) through createOAuthFetch() and its URL policy. Same 1 MiB document cap and total time limit;
 * responses are global `Response`s (see createOAuthFetch).
 */
function createTunneledOAuthFetch(userId: string, tunnelId: string, localOrigin: string): OAuthFetch {
  const public_ = createOAuthFetch();
  const tunnel = createTunnelFetch(userId, tunnelId, {
    purpose: "oauth",
    maxResponseBytes: LIMITS.documentBytes,
    headersTimeoutMs: OAUTH_REQUEST_TIMEOUT_MS,
  });
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== localOrigin) return public_(url, init);
    // The whole exchange (head and body) gets the time limit: the body is read after this returns.
    const ac = new AbortController();
    const timer = setTimeout(
      () =>
        ac.abort(
          new AppError(
            "timeout",
            `The tunneled server ${url.host} did not answer within ${OAUTH_REQUEST_TIMEOUT_MS / 1000} s.`,
            504,
          ),
        ),
      OAUTH_REQUEST_TIMEOUT_MS,
    );
    timer.unref?.();
    const signal = init.signal ? AbortSignal.any([init.signal, ac.signal]) : ac.signal;
    try {
      const res = await tunnel(url, { ...init, signal });
      if (!res.body) {
        clearTimeout(timer);
        return new Response(null, { status: res.status, statusText: res.statusText, headers: res.headers });
      }
      const body = res.body.pipeThrough(new TransformStream({ flush: () => clearTimeout(timer) }), {
        signal: ac.signal,
      });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    } catch (err) {
      clearTimeout(timer);
      throw isAppError(err) ? err : isAppError(ac.signal.reason) ? ac.signal.reason : err;
    }
  };
}
