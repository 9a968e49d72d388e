// Tool-call history, owner-scoped: the write queue every call path records into, and the reads behind the
// activity page and integration health (every read is filtered by the caller's user id).
import { randomUUID } from "node:crypto";
import { Prisma } from "@prisma/client";
import { getDb } from "@/lib/db";
import { env } from "@/lib/env";
import { log } from "@/lib/log";
import { redactText } from "@/lib/redact";
import { processState } from "@/lib/state";

type Owner = { id: string };
export type CallSource = "playground" | "api" | "agent";
/** The agent endpoint's toolset and API token that made a call. */
export type CallVia = { toolsetId?: string; apiTokenId?: string };

/**
 * A call's history row is in the database before its caller gets the answer (a process killed right after
 * answering loses nothing, docs/deploy.md). Rows are group-committed: while one insert is running, the rows of
 * calls that end meanwhile gather and go in the next insert, so a busy process writes few, large inserts and
 * each caller waits for its own row's commit only. Readers wait for what this process has queued:
 * historySettled.
 */
type HistoryRow = Prisma.ToolCallCreateManyInput & { at: Date };
type Batch = { rows: HistoryRow[]; done: Promise<void>; start: () => void };
type HistoryQueue = { next?: Batch; writing: number; written: Promise<void>; seq: number };
// Looked up on every use: after a shutdown (tests) the next call starts a fresh, registered queue.
const queue = () =>
  processState<HistoryQueue>(
    "history",
    () => ({ writing: 0, written: Promise.resolve(), seq: 0 }),
    (q) => historySettledIn(q),
  );
const HISTORY_BATCH = 500;
// Inserts running at once: more overlap a slow database's round trips; one keeps PGlite (which runs one
// statement at a time on its thread) from interleaving them for nothing.
const writers = () => (env().DATABASE_URL ? 4 : 1);

/** Unique, and in call order within a millisecond (activity pages are ordered by at, then id). */
function historyId(q: HistoryQueue, now: number): string {
  q.seq = (q.seq + 1) % 36 ** 4;
  const seq = q.seq.toString(36).padStart(4, "0");
  return `tc${now.toString(36).padStart(9, "0")}${seq}${randomUUID().slice(0, 8)}`;
}

/**
 * Records one call; resolves once its row is committed (never rejects: a row that can't be written is logged,
 * the call itself happened). Callers answer after it resolves.
 */
export function recordCall(
  user: Owner,
  integ: { id: string; storePayloads: boolean },
  tool: string,
  source: CallSource,
  status: string,
  latencyMs: number,
  payload: { args: unknown; result?: unknown; error?: string },
  via: CallVia = {},
): Promise<void> {
  const q = queue();
  const now = Date.now();
  const batch = (q.next ??= openBatch(q));
  batch.rows.push({
    id: historyId(q, now),
    at: new Date(now), // when the call ended, not when its row is written
    userId: user.id,
    integrationId: integ.id,
    tool: tool.slice(0, 200),
    source,
    status,
    latencyMs: Math.round(latencyMs),
    // Servers echo credentials in error text too; what is past 4 KiB is cut anyway.
    error: payload.error === undefined ? undefined : redactText(payload.error.slice(0, 4096)).slice(0, 500),
    toolsetId: via.toolsetId,
    apiTokenId: via.apiTokenId,
    ...(integ.storePayloads ? storedPayload(payload) : {}),
  });
  if (batch.rows.length >= HISTORY_BATCH) startNext(q);
  else if (batch.rows.length === 1 && q.writing < writers()) {
    // Idle writer: go after the calls ending in this same turn of the event loop have joined.
    setImmediate(() => q.next === batch && startNext(q));
  }
  return batch.done;
}

function openBatch(q: HistoryQueue): Batch {
  let start!: () => void;
  const rows: HistoryRow[] = [];
  const done = new Promise<void>((resolve) => {
    start = () => {
      q.writing++;
      writeHistory(rows)
        .catch((err) => log.warn("recording tool calls failed", { rows: rows.length, err: String(err) }))
        .finally(() => {
          q.writing--;
          resolve();
          // Rows that gathered while this insert ran go next.
          if (q.next?.rows.length && q.writing < writers()) startNext(q);
        });
    };
  });
  return { rows, done, start };
}

function startNext(q: HistoryQueue): void {
  const batch = q.next;
  if (!batch) return;
  q.next = undefined;
  const previous = q.written;
  q.written = Promise.all([previous, batch.done]).then(() => {});
  batch.start();
}

function historySettledIn(q: HistoryQueue): Promise<void> {
  startNext(q); // whatever waits for a writer goes now
  return q.written;
}

async function writeHistory(rows: HistoryRow[]): Promise<void> {
  const db = await getDb();
  try {
    // One row (every call of a quiet process) goes in as one statement: createMany wraps its insert in a
    // transaction, three round trips and twice the CPU for a single row.
    if (rows.length === 1) await db.toolCall.create({ data: rows[0], select: { id: true } });
    else await db.toolCall.createMany({ data: rows });
    return;
  } catch (err) {
    if (rows.length === 1) {
      // The calls themselves happened: losing their history rows must not turn results into errors. An
      // integration (or account) deleted since its call was made is the usual reason.
      log.warn("recording a tool call failed", { integrationId: rows[0].integrationId, err: String(err) });
      return;
    }
  }
  // One row the batch can't take (its integration was just deleted) must not cost the others theirs.
  for (const row of rows) await writeHistory([row]);
}

/** Resolves when every tool call recorded so far in this process is in the database. */
export function historySettled(): Promise<void> {
  return historySettledIn(queue());
}

const PAYLOAD_CAP = 16 * 1024;
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|cookie|credential/i;

/**
 * Opt-in payload storage, each part capped; JSON null is stored as NULL. Secrets are redacted by key name
 * (the whole value) and by shape inside every string (bearer tokens, JWTs, vendor keys: lib/redact.ts),
 * keeping the text around them.
 */
function storedPayload(p: { args: unknown; result?: unknown }) {
  const redact = (v: unknown, depth = 0): unknown => {
    if (depth > 20) return "[depth]";
    // Past the cap only a preview is kept: a longer string is cut first, with room for a token at the cut.
    if (typeof v === "string") return redactText(v.length > PAYLOAD_CAP ? v.slice(0, PAYLOAD_CAP + 4096) : v);
    if (Array.isArray(v)) return v.map((x) => redact(x, depth + 1));
    if (v && typeof v === "object")
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [
          redactText(k),
          SECRET_KEY.test(k) ? "[redacted]" : redact(x, depth + 1),
        ]),
      );
    return v;
  };
  const cap = (v: unknown): Prisma.InputJsonValue | undefined => {
    const s = JSON.stringify(redact(v) ?? null);
    return s.length > PAYLOAD_CAP
      ? { truncated: true, preview: s.slice(0, PAYLOAD_CAP) }
      : (JSON.parse(s) ?? undefined);
  };
  return { arguments: cap(p.args), result: p.result === undefined ? undefined : cap(p.result) };
}

// ---------------------------------------------------------------------------------------------------------
// Reads

export type CallFilter = {
  integrationId?: string;
  status?: string;
  source?: string;
  toolsetId?: string;
  apiTokenId?: string;
};

/** One page of the user's calls, newest first, strictly older than `before` when given. */
export async function readCalls(
  user: Owner,
  f: CallFilter,
  before: { at: Date; id: string } | undefined,
  take: number,
) {
  await historySettled(); // read your own writes
  const where: Prisma.ToolCallWhereInput = { userId: user.id };
  if (f.integrationId) where.integrationId = f.integrationId;
  if (f.status) where.status = f.status;
  if (f.source) where.source = f.source;
  if (f.toolsetId) where.toolsetId = f.toolsetId;
  if (f.apiTokenId) where.apiTokenId = f.apiTokenId;
  if (before) where.OR = [{ at: { lt: before.at } }, { at: before.at, id: { lt: before.id } }];
  const db = await getDb();
  const rows = await db.toolCall.findMany({
    where,
    orderBy: [{ at: "desc" }, { id: "desc" }],
    take,
    omit: { userId: true },
    include: {
      integration: { select: { name: true } },
      toolset: { select: { name: true } },
      apiToken: { select: { name: true } },
    },
  });
  return rows.map(({ integration, toolset, apiToken, ...r }) => ({
    ...r,
    integrationName: integration.name,
    toolsetName: toolset?.name ?? null,
    apiTokenName: apiToken?.name ?? null,
  }));
}

export type CallStats = {
  integrationId: string;
  calls: number;
  ok: number;
  toolErrors: number;
  failures: number;
  rejected: number;
  p50: number | null;
  p95: number | null;
};

/**
 * The user's integrations (or one) with their calls since `since`: counts by outcome, latency percentiles
 * and the last error. Percentiles and the per-integration latest row are SQL Prisma can't express.
 */
export async function readCallStats(user: Owner, since: Date, integrationId?: string) {
  await historySettled();
  const db = await getDb();
  const only = integrationId ? Prisma.sql`AND "integrationId" = ${integrationId}` : Prisma.empty;
  const [integrations, stats, errors] = await Promise.all([
    db.integration.findMany({
      where: { userId: user.id, ...(integrationId ? { id: integrationId } : {}) },
      orderBy: { name: "asc" },
      select: { id: true, name: true, url: true, status: true, storePayloads: true },
    }),
    // Latency percentiles leave refusals out: they never reached the server.
    db.$queryRaw<CallStats[]>`
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
  return { integrations, stats, errors };
}
