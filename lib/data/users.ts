// Accounts: sign-up, credential check, roles. The first account (or ADMIN_EMAILS) becomes admin.
import type { Prisma, Role } from "@prisma/client";
import { audit } from "@/lib/data/audit";
import { hashPassword, verifyPassword } from "@/lib/crypto";
import { getDb, isUniqueViolation } from "@/lib/db";
import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { signUpSchema, type SignUpInput } from "@/lib/schemas/auth";
import { processState, TtlCache } from "@/lib/state";

export type SessionUser = { id: string; email: string; name: string | null; role: Role };
const sessionUserSelect = { id: true, email: true, name: true, role: true } as const;

async function roleForNewUser(tx: Prisma.TransactionClient, email: string): Promise<Role> {
  if (
    env()
      .ADMIN_EMAILS.map((e) => e.toLowerCase())
      .includes(email)
  )
    return "admin";
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

/** Finds or creates the user behind an external identity (OIDC / GitHub). */
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
  const user = await db.$transaction(async (tx) => {
    const u =
      existing ??
      (await tx.user.create({
        data: { email, name: p.name ?? null, role: await roleForNewUser(tx, email) },
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

export async function setUserRole(actor: SessionUser, userId: string, role: Role) {
  const db = await getDb();
  if (actor.id === userId && role !== "admin")
    throw new AppError("self_demote", "You cannot remove your own admin role", 400);
  const res = await db.user.updateMany({ where: { id: userId }, data: { role } });
  if (!res.count) throw new AppError("not_found", "User not found", 404);
  await audit(actor.id, "user.set_role", { type: "user", id: userId }, { role });
}
