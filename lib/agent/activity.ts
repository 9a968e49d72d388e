// Tool-call history and per-integration health, owner-scoped: every query is filtered by the caller's user id.
// (Lives beside the agent endpoint because it reads what every call path records; a lib/data/activity.ts
// move is cosmetic.)
import { historySettled } from "@/lib/data/integrations";
import { Prisma } from "@prisma/client";
import type { SessionUser } from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { AppError } from "@/lib/errors";
import { breakerState, type PublicBreakerState } from "@/lib/limits/calls";

type Owner = Pick<SessionUser, "id">;

export const CALL_STATUSES = ["ok", "tool_error", "error", "timeout", "rejected"] as const;
export const CALL_SOURCES = ["playground", "api", "agent"] as const;
export const HEALTH_WINDOW_MS = 24 * 60 * 60_000;
const MAX_LIMIT = 200;

export type ActivityQuery = {
  integrationId?: string;
  status?: string;
  source?: string;
  cursor?: string;
  limit?: number;
};

export type ActivityCall = {
  id: string;
  at: Date;
  integrationId: string;
  integrationName: string;
  tool: string;
  source: string;
  status: string;
  latencyMs: number;
  error: string | null;
  /** only when the integration stored payloads at the time */
  arguments: unknown;
  result: unknown;
};

function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, "base64url").toString().split("|");
  const at = new Date(iso ?? "");
  if (!id || Number.isNaN(at.getTime())) throw new AppError("bad_cursor", "Invalid page cursor", 400);
  return { at, id };
}

/** Newest first; `nextCursor` fetches the next (older) page. Unknown filter values match nothing. */
export async function listActivity(
  user: Owner,
  q: ActivityQuery = {},
): Promise<{ calls: ActivityCall[]; nextCursor?: string }> {
  await historySettled(); // read your own writes
  const limit = Math.min(Math.max(Math.trunc(q.limit ?? 50) || 50, 1), MAX_LIMIT);
  const where: Prisma.ToolCallWhereInput = { userId: user.id };
  if (q.integrationId) where.integrationId = q.integrationId;
  if (q.status) where.status = q.status;
  if (q.source) where.source = q.source;
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    where.OR = [{ at: { lt: c.at } }, { at: c.at, id: { lt: c.id } }];
  }
  const db = await getDb();
  const rows = await db.toolCall.findMany({
    where,
    orderBy: [{ at: "desc" }, { id: "desc" }],
    take: limit + 1,
    select: {
      id: true,
      at: true,
      integrationId: true,
      tool: true,
      source: true,
      status: true,
      latencyMs: true,
      error: true,
      arguments: true,
      result: true,
      integration: { select: { name: true } },
    },
  });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    calls: page.map(({ integration, ...r }) => ({ ...r, integrationName: integration.name })),
    ...(rows.length > limit && last ? { nextCursor: encodeCursor(last.at, last.id) } : {}),
  };
}

export type IntegrationHealth = {
  integrationId: string;
  name: string;
  status: string;
  storePayloads: boolean;
  calls: number;
  ok: number;
  toolErrors: number;
  failures: number;
  rejected: number;
  /** ok ÷ (calls − rejected), null without calls */
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  lastError: { message: string; at: Date } | null;
  breaker: PublicBreakerState;
};

type StatsRow = {
  integrationId: string;
  calls: number;
  ok: number;
  toolErrors: number;
  failures: number;
  rejected: number;
  p50: number | null;
  p95: number | null;
};

/** Health over the last 24 h of each of the user's integrations (or of one). */
export async function listIntegrationHealth(
  user: Owner,
  integrationId?: string,
): Promise<IntegrationHealth[]> {
  await historySettled();
  const db = await getDb();
  const since = new Date(Date.now() - HEALTH_WINDOW_MS);
  const only = integrationId ? Prisma.sql`AND "integrationId" = ${integrationId}` : Prisma.empty;
  const [integrations, stats, errors] = await Promise.all([
    db.integration.findMany({
      where: { userId: user.id, ...(integrationId ? { id: integrationId } : {}) },
      orderBy: { name: "asc" },
      select: { id: true, name: true, url: true, status: true, storePayloads: true },
    }),
    // Latency percentiles leave refusals out: they never reached the server.
    db.$queryRaw<StatsRow[]>`
      SELECT "integrationId",
        count(*)::int AS calls,
        (count(*) FILTER (WHERE status = 'ok'))::int AS ok,
        (count(*) FILTER (WHERE status = 'tool_error'))::int AS "toolErrors",
        (count(*) FILTER (WHERE status IN ('error', 'timeout')))::int AS failures,
        (count(*) FILTER (WHERE status = 'rejected'))::int AS rejected,
        (percentile_cont(0.5) WITHIN GROUP (ORDER BY "latencyMs") FILTER (WHERE status <> 'rejected'))::float8 AS p50,
        (percentile_cont(0.95) WITHIN GROUP (ORDER BY "latencyMs") FILTER (WHERE status <> 'rejected'))::float8 AS p95
      FROM "ToolCall"
      WHERE "userId" = ${user.id} AND at >= ${since} ${only}
      GROUP BY "integrationId"`,
    db.$queryRaw<{ integrationId: string; error: string; at: Date }[]>`
      SELECT DISTINCT ON ("integrationId") "integrationId", error, at
      FROM "ToolCall"
      WHERE "userId" = ${user.id} AND error IS NOT NULL AND at >= ${since} ${only}
      ORDER BY "integrationId", at DESC`,
  ]);
  const statsOf = new Map(stats.map((s) => [s.integrationId, s]));
  const errorOf = new Map(errors.map((e) => [e.integrationId, e]));
  return integrations.map((i) => {
    const s = statsOf.get(i.id);
    const e = errorOf.get(i.id);
    const answered = s ? s.calls - s.rejected : 0;
    return {
      integrationId: i.id,
      name: i.name,
      status: i.status,
      storePayloads: i.storePayloads,
      calls: s?.calls ?? 0,
      ok: s?.ok ?? 0,
      toolErrors: s?.toolErrors ?? 0,
      failures: s?.failures ?? 0,
      rejected: s?.rejected ?? 0,
      successRate: s && answered > 0 ? s.ok / answered : null,
      p50Ms: s?.p50 != null ? Math.round(s.p50) : null,
      p95Ms: s?.p95 != null ? Math.round(s.p95) : null,
      lastError: e ? { message: e.error, at: e.at } : null,
      breaker: breakerState(i.url),
    };
  });
}

/** Health of one integration; a foreign id is "not found". */
export async function getIntegrationHealth(user: Owner, integrationId: string): Promise<IntegrationHealth> {
  const [health] = await listIntegrationHealth(user, integrationId);
  if (!health) throw new AppError("not_found", "Integration not found", 404);
  return health;
}
