// Tunnels and CLI logins, owner-scoped: the rows behind `poke tunnel` (a Tunnel and the integration it
// serves) and `poke login` (a CliLogin parking an encrypted API token for the poller). The sockets and
// the login flow are lib/tunnel's.
import { randomBytes, randomUUID } from "node:crypto";
import { aad, decryptField, encryptField } from "@/lib/crypto";
import { audit } from "@/lib/data/audit";
import { integrationsChanged } from "@/lib/data/changes";
import { getDb, isUniqueViolation } from "@/lib/db";
import { AppError } from "@/lib/errors";

type Owner = { id: string };
/** A tunnel, its owner and the integration it serves. */
export type TunnelRef = { tunnelId: string; userId: string; integrationId: string };

/** Tunnels marked online whose heartbeat was last written before `seenBefore` (all of them without it). */
export async function findStaleTunnels(seenBefore?: Date): Promise<TunnelRef[]> {
  const db = await getDb();
  const rows = await db.tunnel.findMany({
    where: { status: "online", ...(seenBefore ? { lastSeenAt: { lt: seenBefore } } : {}) },
    select: { id: true, userId: true, integrationId: true },
  });
  return rows.map((r) => ({ tunnelId: r.id, userId: r.userId, integrationId: r.integrationId }));
}

/** Marks the tunnel offline, and its integration with the error `why` words from the integration's name. */
export async function markTunnelOffline(t: TunnelRef, why: (name: string) => string): Promise<void> {
  const db = await getDb();
  const integ = await db.integration.findFirst({
    where: { id: t.integrationId, userId: t.userId },
    select: { name: true },
  });
  await db.tunnel.updateMany({ where: { id: t.tunnelId, userId: t.userId }, data: { status: "offline" } });
  if (integ) {
    await db.integration.updateMany({
      where: { id: t.integrationId, userId: t.userId },
      data: { status: "offline", lastError: why(integ.name) },
    });
    integrationsChanged({ userId: t.userId, integrationId: t.integrationId });
  }
}

/** The heartbeat's trace (what tells other instances the tunnel is alive); with `instanceId`, it came online. */
export async function markTunnelSeen(tunnelId: string, userId: string, instanceId?: string): Promise<void> {
  const db = await getDb();
  await db.tunnel.updateMany({
    where: { id: tunnelId, userId },
    data: { lastSeenAt: new Date(), ...(instanceId ? { status: "online", instanceId } : {}) },
  });
}

/** The name of the integration a tunnel serves, when the tunnel is the user's. */
export async function tunnelIntegrationName(tunnelId: string, userId: string): Promise<string | undefined> {
  const db = await getDb();
  const row = await db.tunnel.findFirst({
    where: { id: tunnelId, userId },
    select: { integration: { select: { name: true } } },
  });
  return row?.integration.name;
}

/** A tunneled integration's status and tool count (null once it is gone). */
export async function tunnelIntegrationState(user: Owner, integrationId: string) {
  const db = await getDb();
  const row = await db.integration.findFirst({
    where: { id: integrationId, userId: user.id },
    select: { status: true, _count: { select: { tools: true } } },
  });
  return row && { status: row.status, toolCount: row._count.tools };
}

/**
 * Binds a connection to the owner's integration NAME: revives it when it is already a tunnel of this user,
 * creates it (with a fresh unguessable tunnel id) otherwise. Another user's rows are never visible here,
 * and a regular (non-tunnel) integration with that name is never taken over. `urlFor` is the integration
 * URL for a tunnel id.
 */
export async function attachTunnel(
  user: Owner,
  name: string,
  urlFor: (tunnelId: string) => string,
  retried = false,
): Promise<{ tunnelId: string; integrationId: string; revived: boolean }> {
  const db = await getDb();
  const existing = await db.integration.findFirst({
    where: { userId: user.id, name },
    select: { id: true, tunnelId: true, url: true },
  });
  if (existing && !existing.tunnelId) {
    throw new AppError(
      "name_taken",
      `You already have an integration named "${name}" that is not a tunnel; choose another name with -n.`,
      409,
    );
  }
  if (existing) {
    const tunnel =
      (await db.tunnel.findFirst({ where: { id: existing.tunnelId!, userId: user.id } })) ??
      (await db.tunnel.create({
        data: { id: existing.tunnelId!, userId: user.id, integrationId: existing.id, status: "offline" },
      }));
    const url = urlFor(tunnel.id);
    if (url !== existing.url) {
      await db.integration.updateMany({
        where: { id: existing.id, userId: user.id },
        data: { url, transport: null },
      });
      integrationsChanged({ userId: user.id, integrationId: existing.id });
    }
    return { tunnelId: tunnel.id, integrationId: existing.id, revived: true };
  }
  const integrationId = randomUUID();
  const tunnelId = randomBytes(12).toString("base64url");
  try {
    await db.$transaction([
      db.integration.create({
        data: { id: integrationId, userId: user.id, name, url: urlFor(tunnelId), tunnelId },
      }),
      db.tunnel.create({ data: { id: tunnelId, userId: user.id, integrationId, status: "offline" } }),
    ]);
  } catch (e) {
    // Two CLIs racing for the same new name: the loser revives what the winner created.
    if (isUniqueViolation(e) && !retried) return attachTunnel(user, name, urlFor, true);
    throw e;
  }
  integrationsChanged({ userId: user.id, integrationId });
  await audit(user.id, "tunnel.create", { type: "integration", id: integrationId }, { tunnelId });
  return { tunnelId, integrationId, revived: false };
}

// ---------------------------------------------------------------------------------------------------------
// CLI logins: both secrets are stored hashed; the minted API token only encrypted, until delivered once.

/** Stores a new login; logins expired longer than `keepExpiredMs` ago are deleted. */
export async function createCliLogin(
  p: { codeHash: string; pollHash: string; expiresAt: Date },
  keepExpiredMs: number,
): Promise<void> {
  const db = await getDb();
  await db.cliLogin.create({ data: p });
  await db.cliLogin.deleteMany({ where: { expiresAt: { lt: new Date(Date.now() - keepExpiredMs) } } });
}

export async function findCliLogin(codeHash: string) {
  const db = await getDb();
  return db.cliLogin.findUnique({
    where: { codeHash },
    select: { id: true, approvedAt: true, expiresAt: true },
  });
}

/** Parks the user's new token on the login if it is still unapproved and unexpired; false if not. */
export async function approveCliLoginRow(id: string, user: Owner, token: string): Promise<boolean> {
  const db = await getDb();
  const res = await db.cliLogin.updateMany({
    where: { id, approvedAt: null, expiresAt: { gt: new Date() } },
    data: {
      userId: user.id,
      approvedAt: new Date(),
      tokenEnc: encryptField(token, aad("CliLogin", "tokenEnc", id)),
    },
  });
  return res.count === 1;
}

export async function deleteUnapprovedCliLogin(codeHash: string): Promise<void> {
  const db = await getDb();
  await db.cliLogin.deleteMany({ where: { codeHash, approvedAt: null } });
}

/**
 * The login behind a poll token. `claim` hands out its parked token exactly once: delivery and erasure
 * are one conditional update (null when another poll got it first, or nothing is parked).
 */
export async function findCliLoginByPoll(pollHash: string) {
  const db = await getDb();
  const row = await db.cliLogin.findUnique({
    where: { pollHash },
    select: {
      id: true,
      approvedAt: true,
      expiresAt: true,
      deliveredAt: true,
      tokenEnc: true,
      user: { select: { email: true } },
    },
  });
  if (!row) return null;
  const { tokenEnc, ...login } = row;
  const claim = async (): Promise<string | null> => {
    if (!tokenEnc) return null;
    const claimed = await db.cliLogin.updateMany({
      where: { id: row.id, deliveredAt: null },
      data: { deliveredAt: new Date(), tokenEnc: null },
    });
    return claimed.count ? decryptField(tokenEnc, aad("CliLogin", "tokenEnc", row.id)) : null;
  };
  return { ...login, claim };
}
