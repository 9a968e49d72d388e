// Every page gets a Content-Security-Policy with a fresh script nonce (docs/security.md §5). Next.js reads
// the nonce from the request's policy and puts it on its own scripts; the root layout renders every page
// per request, so no page is served with a stale or missing nonce. Headers only: authorization stays in
// each page and route (§1).
import { NextResponse, type NextRequest } from "next/server";
import { env } from "@/lib/env";

/** The policy for one page view. Exported for tests. */
export function contentSecurityPolicy(nonce: string, opts: { dev: boolean; https: boolean }): string {
  return [
    "default-src 'self'",
    // 'strict-dynamic': scripts Next.js's nonced runtime loads are trusted; nothing else runs.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${opts.dev ? " 'unsafe-eval'" : ""}`,
    // Development injects styles from script without a nonce; production serves stylesheet files.
    `style-src 'self' ${opts.dev ? "'unsafe-inline'" : `'nonce-${nonce}'`}`,
    // Tool results may show images as data: URLs (§15).
    "img-src 'self' data: blob:",
    // …and audio as data: URLs of an allowlisted type.
    "media-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    // Forms post here; the OAuth start form is answered with a redirect to the authorization server,
    // which may be any https origin or a loopback one (docs/security.md §10), and Chromium checks
    // redirects after a form post against this list.
    "form-action 'self' https: http://localhost:* http://127.0.0.1:*",
    "frame-ancestors 'none'",
    ...(opts.https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

export function proxy(request: NextRequest) {
  const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(18))));
  const policy = contentSecurityPolicy(nonce, {
    dev: env().NODE_ENV === "development",
    https: request.nextUrl.protocol === "https:",
  });
  const headers = new Headers(request.headers);
  headers.set("x-nonce", nonce);
  headers.set("content-security-policy", policy);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("content-security-policy", policy);
  return response;
}

export const config = {
  // Pages only: API routes and build assets carry the static headers of next.config.ts. Prefetches get a
  // policy too: a page fetched ahead must not be a page without one.
  matcher: ["/((?!api/|_next/static|_next/image|favicon.ico).*)"],
};
