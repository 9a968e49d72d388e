// Who is asking: the signed-in person (pages, server actions) — always re-read from the database.
import "server-only";
import { getServerSession } from "next-auth";
import { notFound, redirect } from "next/navigation";
import { authOptions } from "@/lib/auth/options";
import { getSessionUser, type SessionUser } from "@/lib/data/users";

/**
 * The signed-in person, or null. getServerSession runs the jwt callback, which refuses a session whose row
 * was revoked or expired (docs/security.md §26), so every page, action and route that asks is covered.
 */
export async function currentUser(): Promise<SessionUser | null> {
  const session = await getServerSession(authOptions());
  const id = (session?.user as { id?: string } | undefined)?.id;
  return id ? getSessionUser(id) : null;
}

/** The signed-in person and the id of the session they use, or null. */
export async function currentSession(): Promise<{ user: SessionUser; sessionId: string } | null> {
  const session = await getServerSession(authOptions());
  const id = (session?.user as { id?: string } | undefined)?.id;
  const sessionId = (session as { sid?: string } | null)?.sid;
  const user = id && sessionId ? await getSessionUser(id) : null;
  return user && sessionId ? { user, sessionId } : null;
}

/** For pages: the signed-in user, or a redirect to sign-in. */
export async function requireUser(returnTo?: string): Promise<SessionUser> {
  const user = await currentUser();
  if (!user) redirect(returnTo ? `/sign-in?callbackUrl=${encodeURIComponent(returnTo)}` : "/sign-in");
  return user;
}

/** For admin pages: non-admins see "not found", as if the page did not exist. */
export async function requireAdmin(): Promise<SessionUser> {
  const user = await requireUser();
  if (user.role !== "admin") notFound();
  return user;
}
