// next-auth (v4) configuration: email + password, plus OIDC / GitHub when configured. JWT sessions
// carry only the user id; roles are read from the database on every request that needs them.
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import GitHubProvider from "next-auth/providers/github";
import { checkCredentials, userForExternalAccount } from "@/lib/data/users";
import { env } from "@/lib/env";

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
        const user = await checkCredentials(email, password);
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

let cached: NextAuthOptions | undefined;

export function authOptions(): NextAuthOptions {
  if (cached) return cached;
  const e = env();
  cached = {
    secret: e.SESSION_SECRET,
    session: { strategy: "jwt", maxAge: 30 * 24 * 3600 },
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
          return true;
        } catch {
          return "/sign-in?error=AccountLink";
        }
      },
      async jwt({ token, user }) {
        if (user) token.uid = user.id;
        return token;
      },
      async session({ session, token }) {
        if (session.user) (session.user as { id?: string }).id = token.uid as string;
        return session;
      },
    },
  };
  return cached;
}
