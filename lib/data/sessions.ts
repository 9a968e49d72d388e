// Browser sessions (docs/security.md §26): the session cookie names a Session row, and the cookie is honoured
// only while that row is unrevoked and unexpired. Sign-out, "sign out everywhere", a password change and a
// role change revoke rows, which ends those sessions on their next request.
import { getDb } from "@/lib/db";
import { AppError } from "@/lib/errors";
import type { SessionUser } from "@/lib/data/users";

export const SESSION_MAX_AGE_SEC = 30 * 24 * 3600;
/** lastSeenAt is written at most this often per session: one cheap read per request otherwise. */
const TOUCH_EVERY_MS = 60_000;

export type SessionMeta = { userAgent?: string | null; ip?: string | null };

export async function createSession(userId: string, meta: SessionMeta): Promise<{ id: string }> {
  const db = await getDb();
  const now = new Date();
  // Housekeeping: this user's sessions that ended long ago are only clutter.
  await db.session.deleteMany({
    where: { userId, expiresAt: { lt: new Date(+now - 7 * 24 * 3600_000) } },
  });
  return db.session.create({
    data: {
      userId,
      userAgent: meta.userAgent?.slice(0, 300) || null,
      ip: meta.ip?.slice(0, 64) || null,
      expiresAt: new Date(+now + SESSION_MAX_AGE_SEC * 1000),
    },
    select: { id: true },
  });
}

/** True while the session is live for this user; marks it seen (at most once a minute). */
export async function touchLiveSession(id: string, userId: string): Promise<boolean> {
  const db = await getDb();
  const now = new Date();
  const s = await db.session.findFirst({
    where: { id, userId, revokedAt: null, expiresAt: { gt: now } },
    select: { lastSeenAt: true },
  });
  if (!s) return false;
  if (+now - +s.lastSeenAt >= TOUCH_EVERY_MS) {
    await db.session.updateMany({
      where: { id, lastSeenAt: { lt: new Date(+now - TOUCH_EVERY_MS) } },
      data: { lastSeenAt: now },
    });
  }
  return true;
}

/** Sign-out: ends one session (a session already ended is left as it is). */
export async function revokeSessionById(id: string): Promise<void> {
  const db = await getDb();
  await db.session.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
}

/** Ends one of the user's own sessions; another user's id is "not found". */
export async function revokeSession(user: SessionUser, id: string): Promise<void> {
  const db = await getDb();
  const res = await db.session.updateMany({
    where: { id, userId: user.id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (!res.count) throw new AppError("not_found", "Session not found", 404);
}

/** Ends every live session of a user, except `keepId` when given. Returns how many ended. */
export async function revokeUserSessions(userId: string, opts: { keepId?: string } = {}): Promise<number> {
  const db = await getDb();
  const res = await db.session.updateMany({
    where: { userId, revokedAt: null, ...(opts.keepId ? { id: { not: opts.keepId } } : {}) },
    data: { revokedAt: new Date() },
  });
  return res.count;
}

export async function listSessions(user: SessionUser) {
  const db = await getDb();
  return db.session.findMany({
    where: { userId: user.id, revokedAt: null, expiresAt: { gt: new Date() } },
    orderBy: { lastSeenAt: "desc" },
    select: { id: true, userAgent: true, ip: true, createdAt: true, lastSeenAt: true },
  });
}
