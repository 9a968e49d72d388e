// API tokens: shown once, stored hashed; they authenticate /api/v1/**, /api/mcp and the tunnel.
import { audit } from "@/lib/data/audit";
import { hashSecret, randomToken } from "@/lib/crypto";
import { getDb } from "@/lib/db";
import { AppError, notFound } from "@/lib/errors";
import { apiTokenCreateSchema, type ApiTokenCreateInput } from "@/lib/schemas/auth";
import { tokenScopeSchema, type TokenScopeInput } from "@/lib/schemas/toolsets";
import { processState, TtlCache } from "@/lib/state";
import type { SessionUser } from "@/lib/data/users";

const TOKEN_PREFIX = "poke_";
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Verified tokens, briefly, so hot paths (tool calls) skip the lookup. Revoking in this process drops the
 * entry at once; another instance notices within CACHE_TTL_MS. The cached role is for display only: admin
 * decisions re-read it from the database (lib/auth/session.ts).
 */
const CACHE_TTL_MS = 10_000;
type Verified = SessionUser & { tokenId: string };
const verified = processState(
  "apiTokens",
  () => new TtlCache<string, Verified>({ ttlMs: CACHE_TTL_MS, max: 10_000 }),
);

/**
 * A new token, shown once. `scope` limits it to some of the user's toolsets (none = the whole /api/mcp) and
 * sets whether /api/mcp serves it in search mode; it is part of the same write, so a token never exists
 * with more reach than it was created with.
 */
export async function createApiToken(
  user: SessionUser,
  input: ApiTokenCreateInput,
  scope: TokenScopeInput = {},
) {
  const { name, expiresInDays } = apiTokenCreateSchema.parse(input);
  const { toolsetIds, searchMode } = tokenScopeSchema.parse(scope);
  const ids = [...new Set(toolsetIds)];
  const token = randomToken(TOKEN_PREFIX);
  const db = await getDb();
  const row = await db.$transaction(async (tx) => {
    if (ids.length) {
      const owned = await tx.toolset.count({ where: { id: { in: ids }, userId: user.id } });
      if (owned !== ids.length) throw notFound("Toolset not found");
    }
    return tx.apiToken.create({
      data: {
        userId: user.id,
        name,
        prefix: token.slice(0, TOKEN_PREFIX.length + 6),
        tokenHash: hashSecret(token),
        expiresAt: expiresInDays ? new Date(Date.now() + expiresInDays * 86_400_000) : null,
        searchMode,
        ...(ids.length ? { toolsets: { connect: ids.map((id) => ({ id })) } } : {}),
      },
      select: { id: true, name: true, prefix: true, expiresAt: true },
    });
  });
  await audit(
    user.id,
    "api_token.create",
    { type: "api_token", id: row.id },
    ids.length || searchMode ? { name, toolsetIds: ids, searchMode } : { name },
  );
  return { ...row, token };
}

/** The user's unrevoked tokens for Settings (never the secret), each with its scope. */
export async function listApiTokens(user: SessionUser) {
  const db = await getDb();
  return db.apiToken.findMany({
    where: { userId: user.id, revokedAt: null },
    orderBy: { createdAt: "desc" },
    select: {
      id: true,
      name: true,
      prefix: true,
      createdAt: true,
      lastUsedAt: true,
      expiresAt: true,
      searchMode: true,
      toolsets: { orderBy: { name: "asc" }, select: { id: true, name: true } },
    },
  });
}

export async function revokeApiToken(user: SessionUser, id: string) {
  const db = await getDb();
  const res = await db.apiToken.updateMany({
    where: { id, userId: user.id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (!res.count) throw new AppError("not_found", "Token not found", 404);
  verified.deleteWhere((_hash, who) => who.tokenId === id);
  await audit(user.id, "api_token.revoke", { type: "api_token", id });
}

/** Forgets cached verifications of tokens revoked by another write, so they stop authenticating at once. */
export function forgetApiTokens(ids: string[]): void {
  if (!ids.length) return;
  const gone = new Set(ids);
  verified.deleteWhere((_hash, who) => gone.has(who.tokenId));
}

/** The owner of a valid (known, unrevoked, unexpired) token, or an AppError 401 saying why not. */
export async function authenticateApiToken(raw: string): Promise<Verified> {
  if (!raw.startsWith(TOKEN_PREFIX) || raw.length > 200)
    throw new AppError("invalid_token", "Invalid API token", 401);
  const tokenHash = hashSecret(raw);
  const hit = verified.get(tokenHash);
  if (hit) return hit;
  const db = await getDb();
  const row = await db.apiToken.findUnique({
    where: { tokenHash },
    select: {
      id: true,
      revokedAt: true,
      expiresAt: true,
      lastUsedAt: true,
      user: { select: { id: true, email: true, name: true, role: true } },
    },
  });
  if (!row) throw new AppError("invalid_token", "Invalid API token", 401);
  if (row.revokedAt) throw new AppError("token_revoked", "This API token was revoked", 401);
  if (row.expiresAt && row.expiresAt < new Date())
    throw new AppError("token_expired", "This API token has expired", 401);
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } });
  }
  const who = { ...row.user, tokenId: row.id };
  // Never past the token's own expiry.
  const ttl = row.expiresAt ? Math.min(CACHE_TTL_MS, row.expiresAt.getTime() - Date.now()) : CACHE_TTL_MS;
  verified.set(tokenHash, who, ttl);
  return who;
}

/** Every token of the user by name, revoked ones too (their calls stay in the history), for filters. */
export async function listApiTokenNames(user: SessionUser) {
  const db = await getDb();
  return db.apiToken.findMany({
    where: { userId: user.id },
    orderBy: [{ revokedAt: { sort: "desc", nulls: "first" } }, { createdAt: "desc" }],
    select: { id: true, name: true, prefix: true, revokedAt: true },
  });
}
