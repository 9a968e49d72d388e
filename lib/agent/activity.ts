// Tool-call history and per-integration health, owner-scoped: the reads are lib/data/history.ts's, filtered
// by the caller's user id; this adds paging and the health figures.
import { readCalls, readCallStats } from "@/lib/data/history";
import type { SessionUser } from "@/lib/data/users";
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
  toolsetId?: string;
  apiTokenId?: string;
  cursor?: string;
  limit?: number;
};

/** One recorded call; `arguments` and `result` only when the integration stored payloads at the time. */
export type ActivityCall = Awaited<ReturnType<typeof readCalls>>[number];

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
  const limit = Math.min(Math.max(Math.trunc(q.limit ?? 50) || 50, 1), MAX_LIMIT);
  const rows = await readCalls(user, q, q.cursor ? decodeCursor(q.cursor) : undefined, limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    calls: page,
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

/** Health over the last 24 h of each of the user's integrations (or of one). */
export async function listIntegrationHealth(
  user: Owner,
  integrationId?: string,
): Promise<IntegrationHealth[]> {
  const since = new Date(Date.now() - HEALTH_WINDOW_MS);
  const { integrations, stats, errors } = await readCallStats(user, since, integrationId);
  const statsOf = new Map(stats.map((s) => [s.integrationId, s]));
  const errorOf = new Map(errors.map((e) => [e.integrationId, e]));
  const breakers = await Promise.all(integrations.map((i) => breakerState(user.id, i.url)));
  return integrations.map((i, n) => {
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
      breaker: breakers[n],
    };
  });
}

/** Health of one integration; a foreign id is "not found". */
export async function getIntegrationHealth(user: Owner, integrationId: string): Promise<IntegrationHealth> {
  const [health] = await listIntegrationHealth(user, integrationId);
  if (!health) throw new AppError("not_found", "Integration not found", 404);
  return health;
}
