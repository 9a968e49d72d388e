// GET|POST /api/auth/* — next-auth (sign-in, sign-out, session, OAuth sign-in callbacks). A throttled password
// sign-in (docs/security.md §25) answers 429 with Retry-After when the client asked for JSON.
import NextAuth from "next-auth";
import { THROTTLED_PREFIX } from "@/lib/auth/login-throttle";
import { authOptions } from "@/lib/auth/options";

export const dynamic = "force-dynamic";

async function handler(req: Request, ctx: { params: Promise<{ nextauth: string[] }> }) {
  const res: Response = await NextAuth(authOptions())(req, { params: await ctx.params });
  if (req.method !== "POST" || !res.headers.get("content-type")?.includes("application/json")) return res;
  const body = await res.text();
  const url = redirectUrl(body);
  const error = url && URL.canParse(url) ? new URL(url).searchParams.get("error") : null;
  const wait = error?.startsWith(THROTTLED_PREFIX) ? Number(error.slice(THROTTLED_PREFIX.length)) : 0;
  const headers = new Headers(res.headers);
  if (wait > 0) headers.set("Retry-After", String(wait));
  return new Response(body, { status: wait > 0 ? 429 : res.status, headers });
}

/** next-auth's JSON answer to a form post names where the browser would have been redirected. */
function redirectUrl(body: string): string {
  try {
    return String((JSON.parse(body) as { url?: unknown }).url ?? "");
  } catch {
    return "";
  }
}

export { handler as GET, handler as POST };
