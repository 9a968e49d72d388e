// Accounts: sign-up, credential check, roles. The first account (or ADMIN_EMAILS) becomes admin.
import type { Prisma, Role } from "@prisma/client";
import { audit } from "@/lib/data/audit";
import { revokeUserSessions } from "@/lib/data/sessions";
import { hashPassword, verifyPassword } from "@/lib/crypto";
import { getDb, isUniqueViolation } from "@/lib/db";
import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";
import {
  changePasswordSchema,
  signUpSchema,
  type ChangePasswordInput,
  type SignUpInput,
} from "@/lib/schemas/auth";
import { processState, TtlCache } from "@/lib/state";

export type SessionUser = { id: string; email: string; name: string | null; role: Role };
const sessionUserSelect = { id: true, email: true, name: true, role: true } as const;

const isAdminEmail = (email: string) =>
  env()
    .ADMIN_EMAILS.map((e) => e.toLowerCase())
    .includes(email);

/** `emailTrusted`: false for an identity provider's unverified email, which never makes an admin. */
async function roleForNewUser(
  tx: Prisma.TransactionClient,
  email: string,
  emailTrusted = true,
): Promise<Role> {
  if (emailTrusted && isAdminEmail(email)) return "admin";
  // Serialize first sign-ups so exactly one account becomes the first admin.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(727002)`;
  return (await tx.user.count()) === 0 ? "admin" : "user";
}

export async function signUp(input: SignUpInput): Promise<SessionUser> {
  const { email, password, name } = signUpSchema.parse(input);
  if (!env().SIGNUP_ENABLED) throw new AppError("signup_disabled", "Sign-up is disabled on this server", 403);
  const passwordHash = await hashPassword(password);
  const db = await getDb();
  try {
    const user = await db.$transaction(async (tx) =>
      tx.user.create({
        data: { email, name: name || null, passwordHash, role: await roleForNewUser(tx, email) },
        select: sessionUserSelect,
      }),
    );
    await audit(user.id, "user.signup", { type: "user", id: user.id }, { role: user.role });
    return user;
  } catch (e) {
    if (isUniqueViolation(e))
      throw new AppError("email_taken", "An account with this email already exists. Sign in instead.", 409);
    throw e;
  }
}

/**
 * The user's public id: a random UUID that never changes, sent to every MCP server as X-Poke-User-Id (the
 * internal id never leaves the app). Cached, as every request to a server carries it.
 */
export async function publicUserId(userId: string): Promise<string> {
  const cache = processState(
    "users.publicId",
    () => new TtlCache<string, string>({ ttlMs: 60 * 60_000, max: 10_000 }),
  );
  const hit = cache.get(userId);
  if (hit) return hit;
  const db = await getDb();
  const user = await db.user.findUnique({ where: { id: userId }, select: { publicId: true } });
  if (!user) throw new AppError("not_found", "No such user", 404);
  cache.set(userId, user.publicId);
  return user.publicId;
}

/** Returns the user for a correct email + password, otherwise null (same answer for both failures). */
export async function checkCredentials(email: string, password: string): Promise<SessionUser | null> {
  const db = await getDb();
  const user = await db.user.findUnique({ where: { email: email.trim().toLowerCase() } });
  if (!user?.passwordHash) {
    await hashPassword(password); // equalize timing for unknown emails
    return null;
  }
  if (!(await verifyPassword(password, user.passwordHash))) return null;
  return { id: user.id, email: user.email, name: user.name, role: user.role };
}

/**
 * Finds or creates the user behind an external identity (OIDC / GitHub). An identity already linked, or whose
 * verified email names an existing account, signs in. A new account is made only while sign-up is open, or
 * for a verified email listed in ADMIN_EMAILS (docs/security.md §27).
 */
export async function userForExternalAccount(p: {
  provider: string;
  providerAccountId: string;
  email: string;
  emailVerified: boolean;
  name?: string | null;
}): Promise<SessionUser> {
  const db = await getDb();
  const linked = await db.account.findUnique({
    where: { provider_providerAccountId: { provider: p.provider, providerAccountId: p.providerAccountId } },
    select: { user: { select: sessionUserSelect } },
  });
  if (linked) return linked.user;
  const email = p.email.trim().toLowerCase();
  const existing = await db.user.findUnique({ where: { email }, select: sessionUserSelect });
  if (existing && !p.emailVerified)
    throw new AppError("unverified_email", "This email belongs to another account", 403);
  if (!existing && !env().SIGNUP_ENABLED && !(p.emailVerified && isAdminEmail(email)))
    throw new AppError("signup_closed", "Sign-up is closed on this server", 403);
  const user = await db.$transaction(async (tx) => {
    const u =
      existing ??
      (await tx.user.create({
        data: { email, name: p.name ?? null, role: await roleForNewUser(tx, email, p.emailVerified) },
        select: sessionUserSelect,
      }));
    await tx.account.create({
      data: { userId: u.id, provider: p.provider, providerAccountId: p.providerAccountId },
    });
    return u;
  });
  await audit(user.id, "user.link_account", { type: "user", id: user.id }, { provider: p.provider });
  return user;
}

/** Whether the user signs in with a password (accounts made through SSO have none until they set one). */
export async function hasPassword(user: SessionUser): Promise<boolean> {
  const db = await getDb();
  const row = await db.user.findUnique({ where: { id: user.id }, select: { passwordHash: true } });
  return Boolean(row?.passwordHash);
}

export async function getSessionUser(id: string): Promise<SessionUser | null> {
  const db = await getDb();
  return db.user.findUnique({ where: { id }, select: sessionUserSelect });
}

export async function listUsers() {
  const db = await getDb();
  return db.user.findMany({
    orderBy: { createdAt: "asc" },
    select: { ...sessionUserSelect, createdAt: true },
  });
}

/** Promotes or demotes a user; a change ends all of that user's sessions (they sign in again). */
export async function setUserRole(actor: SessionUser, userId: string, role: Role) {
  const db = await getDb();
  if (actor.id === userId && role !== "admin")
    throw new AppError("self_demote", "You cannot remove your own admin role", 400);
  const target = await db.user.findUnique({ where: { id: userId }, select: { role: true } });
  if (!target) throw new AppError("not_found", "User not found", 404);
  if (target.role === role) return;
  await db.user.updateMany({ where: { id: userId }, data: { role } });
  await revokeUserSessions(userId);
  await audit(actor.id, "user.set_role", { type: "user", id: userId }, { role });
}

/**
 * Changes the user's password (the current one is required when there is one) and ends every other session;
 * the session making the change (`keepSessionId`) stays signed in.
 */
export async function changePassword(user: SessionUser, input: ChangePasswordInput, keepSessionId?: string) {
  const { currentPassword, newPassword } = changePasswordSchema.parse(input);
  const db = await getDb();
  const row = await db.user.findUnique({ where: { id: user.id }, select: { passwordHash: true } });
  if (!row) throw new AppError("not_found", "User not found", 404);
  if (row.passwordHash && !(await verifyPassword(currentPassword ?? "", row.passwordHash)))
    throw new AppError("wrong_password", "The current password is wrong", 400);
  await db.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(newPassword) } });
  const ended = await revokeUserSessions(user.id, { keepId: keepSessionId });
  await audit(user.id, "user.change_password", { type: "user", id: user.id }, { endedSessions: ended });
}
