// next-auth (v4) configuration: email + password, plus OIDC / GitHub when configured. The session cookie (a
// JWT) carries the user id and the id of a Session row; it is honoured only while that row is live
// (docs/security.md §26). Roles are read from the database on every request that needs them.
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import GitHubProvider from "next-auth/providers/github";
import { headers } from "next/headers";
import { clientAddress } from "@/lib/auth/client-address";
import { throttledSignIn } from "@/lib/auth/login-throttle";
import { createSession, revokeSessionById, SESSION_MAX_AGE_SEC, touchLiveSession } from "@/lib/data/sessions";
import { checkCredentials, userForExternalAccount } from "@/lib/data/users";
import { OIDC_PROVIDER, saveIdToken } from "@/lib/data/identity-assertions";
import { env } from "@/lib/env";
import { isAppError } from "@/lib/errors";
import { log } from "@/lib/log";

type OidcProfile = { sub: string; email?: string; email_verified?: boolean; name?: string };

function providers(): NextAuthOptions["providers"] {
  const e = env();
  const list: NextAuthOptions["providers"] = [
    CredentialsProvider({
      id: "credentials",
      name: "Email",
      credentials: { email: { type: "email" }, password: { type: "password" } },
      async authorize(credentials) {
        const email = String(credentials?.email ?? "").slice(0, 254);
        const password = String(credentials?.password ?? "").slice(0, 200);
        if (!email || !password) return null;
        const address = clientAddress(await headers());
        const user = await throttledSignIn(email, address, () => checkCredentials(email, password));
        return user ? { id: user.id, email: user.email, name: user.name } : null;
      },
    }),
  ];
  if (e.OIDC_ISSUER && e.OIDC_CLIENT_ID && e.OIDC_CLIENT_SECRET) {
    list.push({
      id: "oidc",
      name: e.OIDC_NAME,
      type: "oauth",
      wellKnown: `${e.OIDC_ISSUER.replace(/\/$/, "")}/.well-known/openid-configuration`,
      clientId: e.OIDC_CLIENT_ID,
      clientSecret: e.OIDC_CLIENT_SECRET,
      idToken: true,
      checks: ["pkce", "state"],
      authorization: { params: { scope: "openid email profile" } },
      profile: (p: OidcProfile) => ({ id: p.sub, email: p.email, name: p.name }),
    });
  }
  if (e.GITHUB_CLIENT_ID && e.GITHUB_CLIENT_SECRET) {
    list.push(GitHubProvider({ clientId: e.GITHUB_CLIENT_ID, clientSecret: e.GITHUB_CLIENT_SECRET }));
  }
  return list;
}

export function externalProviders(): { id: string; name: string }[] {
  return providers()
    .filter((p) => p.id !== "credentials")
    .map((p) => ({ id: p.id, name: p.name }));
}

/** Thrown by the jwt callback for a revoked, expired or unknown session: next-auth clears the cookie. */
const SESSION_ENDED = "session_ended";

let cached: NextAuthOptions | undefined;

export function authOptions(): NextAuthOptions {
  if (cached) return cached;
  const e = env();
  cached = {
    secret: e.SESSION_SECRET,
    session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_SEC },
    pages: { signIn: "/sign-in", error: "/sign-in" },
    providers: providers(),
    useSecureCookies: e.APP_URL.startsWith("https://"),
    callbacks: {
      async signIn({ user, account, profile }) {
        if (!account || account.provider === "credentials") return true;
        const email = user.email ?? (profile as OidcProfile | undefined)?.email;
        if (!email) return "/sign-in?error=NoEmail";
        // GitHub only returns verified primary emails; OIDC says so explicitly.
        const verified =
          account.provider === "github" || (profile as OidcProfile | undefined)?.email_verified === true;
        try {
          const u = await userForExternalAccount({
            provider: account.provider,
            providerAccountId: account.providerAccountId,
            email,
            emailVerified: verified,
            name: user.name,
          });
          user.id = u.id;
          // Kept for enterprise-managed authorization of integrations (docs/oauth.md).
          if (account.provider === OIDC_PROVIDER && typeof account.id_token === "string") {
            await saveIdToken({
              provider: account.provider,
              providerAccountId: account.providerAccountId,
              idToken: account.id_token,
            }).catch((err) => log.warn("keeping the ID token failed", { err: String(err) }));
          }
          return true;
        } catch (e) {
          if (isAppError(e) && e.code === "signup_closed") return "/sign-in?error=SignupClosed";
          if (!isAppError(e)) log.error("external sign-in failed", e);
          return "/sign-in?error=AccountLink";
        }
      },
      async jwt({ token, user }) {
        if (user) {
          const h = await headers();
          const s = await createSession(user.id, {
            userAgent: h.get("user-agent"),
            ip: clientAddress(h),
          });
          return { ...token, uid: user.id, sid: s.id };
        }
        // Every request: the session row must still be live (sign-out, password and role changes end it).
        const live =
          typeof token.sid === "string" &&
          typeof token.uid === "string" &&
          (await touchLiveSession(token.sid, token.uid));
        if (!live) throw new Error(SESSION_ENDED);
        return token;
      },
      async session({ session, token }) {
        if (session.user) (session.user as { id?: string }).id = token.uid as string;
        (session as { sid?: string }).sid = token.sid as string;
        return session;
      },
    },
    events: {
      async signOut({ token }) {
        if (typeof token?.sid === "string") await revokeSessionById(token.sid);
      },
    },
    logger: {
      error(code, metadata) {
        // An ended session is an expected outcome, not a fault.
        const message = (metadata as { message?: string } | undefined)?.message;
        if (code === "JWT_SESSION_ERROR" && message === SESSION_ENDED) return;
        const err =
          metadata instanceof Error ? metadata : ((metadata as { error?: unknown })?.error ?? metadata);
        log.error(`next-auth: ${code}`, err);
      },
      warn(code) {
        log.warn(`next-auth: ${code}`);
      },
      debug() {},
    },
  };
  return cached;
}
