// Attempt counters for sign-in and `poke login` (docs/security.md §25): one LoginThrottle row per key
// ("account:<email>", "ip:<address>", "cli-login:<address>"). An attempt is counted *before* it is judged,
// under a row lock, so a burst of parallel requests can't slip past the limit; the attempt that fills the
// window starts a short block that doubles with each further window's worth of attempts, up to a cap.
import { getDb } from "@/lib/db";

export type ThrottlePolicy = {
  /** Attempts per window before a block starts. */
  max: number;
  windowSec: number;
  /** The first block; each later one doubles, up to blockMaxSec. */
  blockSec: number;
  blockMaxSec: number;
};

export type Reservation =
  | { allowed: true; key: string; startedBlock: boolean }
  | { allowed: false; key: string; retryAfterSec: number };

const STALE_MS = 24 * 3600_000;

type Row = { failures: number; windowStart: Date; blockedUntil: Date | null };

/** Counts one attempt under `key`, or refuses it while the key is blocked (refusals are not counted). */
export async function reserveAttempt(key: string, p: ThrottlePolicy): Promise<Reservation> {
  const db = await getDb();
  const now = new Date();
  const created = await db.loginThrottle.createMany({
    data: [{ key, failures: 0, windowStart: now }],
    skipDuplicates: true,
  });
  // Housekeeping when a new key appears: rows untouched for a day count nothing any more.
  if (created.count)
    await db.loginThrottle.deleteMany({ where: { updatedAt: { lt: new Date(+now - STALE_MS) } } });
  return db.$transaction(async (tx) => {
    // Prisma can't lock a row it reads; the lock serializes concurrent attempts on one key.
    const [row] = await tx.$queryRaw<Row[]>`
      SELECT "failures", "windowStart", "blockedUntil" FROM "LoginThrottle" WHERE "key" = ${key} FOR UPDATE`;
    if (!row) return { allowed: true, key, startedBlock: false };
    if (row.blockedUntil && row.blockedUntil > now)
      return {
        allowed: false,
        key,
        retryAfterSec: Math.max(1, Math.ceil((+row.blockedUntil - +now) / 1000)),
      };
    const fresh = +now - +row.windowStart > p.windowSec * 1000;
    const failures = fresh ? 1 : row.failures + 1;
    const startedBlock = failures % p.max === 0;
    const blockSec = Math.min(p.blockMaxSec, p.blockSec * 2 ** (failures / p.max - 1));
    await tx.loginThrottle.update({
      where: { key },
      data: {
        failures,
        ...(fresh ? { windowStart: now } : {}),
        ...(startedBlock ? { blockedUntil: new Date(+now + blockSec * 1000) } : {}),
      },
    });
    return { allowed: true, key, startedBlock };
  });
}

/** A successful sign-in: the account's counter starts over. */
export async function clearAttempts(key: string): Promise<void> {
  const db = await getDb();
  await db.loginThrottle.deleteMany({ where: { key } });
}

/** Gives back one counted attempt that turned out fine (and the block it started, if any). */
export async function releaseAttempt(r: Reservation): Promise<void> {
  if (!r.allowed) return;
  const db = await getDb();
  await db.loginThrottle.updateMany({
    where: { key: r.key, failures: { gt: 0 } },
    data: { failures: { decrement: 1 }, ...(r.startedBlock ? { blockedUntil: null } : {}) },
  });
}
