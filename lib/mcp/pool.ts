// Pooled live MCP sessions keyed by (user, integration) — never shared across users. Sessions close when
// idle; an expired session re-initializes once before the call is sent; tools/call is never retried
// otherwise (docs/security.md §20). Registered in the process state (lib/state.ts): one pool per process,
// closed on shutdown.
import {
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  type CallToolRequestOptions,
  type CallToolResult,
  type PriorDiscovery,
} from "@modelcontextprotocol/client";
import { callableTool } from "@/lib/data/catalog";
import { rowCacheTtlMs } from "@/lib/data/changes";
import { AppError, isAppError, notFound } from "@/lib/errors";
import { log } from "@/lib/log";
import { connectMcp, type McpConnection } from "@/lib/mcp/connect";
import { classifyMcpError } from "@/lib/mcp/errors";
import {
  forgetCallPlans,
  knownTransport,
  loadIntegration,
  planKey,
  plans,
  type EngineIntegration,
  type Plan,
} from "@/lib/mcp/integration";
import { describeIssues, validateJsonSchema } from "@/lib/mcp/json-schema";
import { callToolAsTask, taskSupportOf } from "@/lib/mcp/tasks";
import { admitCall, withBreaker } from "@/lib/limits/calls";
import { assertJsonShape, jsonProblem } from "@/lib/limits/json-shape";
import { LIMITS } from "@/lib/net/egress";
import { recordStepUpScope, setIntegrationState } from "@/lib/data/grants";
import { processState } from "@/lib/state";

export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** The 2026-07-28 HeaderMismatch error: a server refused a request's headers before running it. */
const HEADER_MISMATCH = -32020;
export const MAX_CALL_TIMEOUT_MS = LIMITS.hardMaxMs;

type PoolConfig = { idleMs: number; maxSessions: number; resyncDebounceMs: number };

type Entry = {
  key: string;
  userId: string;
  integrationId: string;
  /** url + key + transport the session was opened with; a change means reconnect */
  fingerprint: string;
  conn: McpConnection;
  inflight: number;
  lastUsed: number;
  idleTimer?: NodeJS.Timeout;
};

type Pool = {
  entries: Map<string, Entry>;
  opening: Map<string, Promise<Entry>>;
  resyncTimers: Map<string, NodeJS.Timeout>;
  config: PoolConfig;
};

const pool: Pool = processState(
  "mcpPool",
  () => ({
    entries: new Map(),
    opening: new Map(),
    resyncTimers: new Map(),
    config: { idleMs: 5 * 60_000, maxSessions: 500, resyncDebounceMs: 300 },
  }),
  () => closeAll(),
);

export function configurePool(c: Partial<PoolConfig>): void {
  Object.assign(pool.config, c);
}

export function poolSize(): number {
  return pool.entries.size;
}

const keyOf = (userId: string, integrationId: string) => `${userId}\u0000${integrationId}`;

/** Clamp a requested timeout to (0, 300 s]. */
export function effectiveTimeout(ms?: number): number {
  if (!ms || !Number.isFinite(ms) || ms <= 0) return DEFAULT_CALL_TIMEOUT_MS;
  return Math.min(ms, MAX_CALL_TIMEOUT_MS);
}

export type CallContext = { userId: string; integrationId: string };
export type CallProgress = { progress: number; total?: number; message?: string };
export type CallOptions = {
  timeoutMs?: number;
  signal?: AbortSignal;
  onprogress?: (p: CallProgress) => void;
};
export type CallOutcome = { result: CallToolResult; latencyMs: number; storePayloads: boolean };

/**
 * Calls a tool on the integration's server through a pooled session. Throws AppError. Every call (playground,
 * API, agent endpoint) passes here, so the per-user limits and the circuit breakers are applied here.
 */
export async function callTool(
  ctx: CallContext,
  name: string,
  args: Record<string, unknown> = {},
  opts: CallOptions = {},
): Promise<CallOutcome> {
  const release = await admitCall(ctx.userId);
  try {
    return await checkedCall(ctx, name, args, opts);
  } finally {
    release();
  }
}

async function planFor(ctx: CallContext, name: string): Promise<Plan> {
  const key = planKey(ctx.userId, ctx.integrationId, name);
  const hit = plans.get(key);
  if (hit) return hit;
  const plan = Promise.all([loadIntegration(ctx.userId, ctx.integrationId), callableTool(ctx, name)]).then(
    ([integ, tool]) => ({ integ, tool }),
  );
  plans.set(key, plan, rowCacheTtlMs());
  // A failed read is not kept.
  plan.catch(() => plans.get(key) === plan && plans.delete(key));
  return plan;
}

async function checkedCall(
  ctx: CallContext,
  name: string,
  args: Record<string, unknown>,
  opts: CallOptions,
): Promise<CallOutcome> {
  const { integ, tool } = await planFor(ctx, name);
  if (!tool)
    throw notFound(`This integration has no tool named "${name.slice(0, 128)}". Re-sync if it is new.`);
  if (!tool.enabled)
    throw new AppError("tool_disabled", `The tool "${name}" is disabled for this integration.`, 403);
  if (args === null || typeof args !== "object" || Array.isArray(args)) {
    throw new AppError("invalid_arguments", "Tool arguments must be a JSON object.", 400);
  }
  const tooBig = jsonProblem(args); // before the schema check and the request re-serialize them
  if (tooBig) throw new AppError("invalid_arguments", `Tool arguments ${tooBig.text}.`, 400);
  const issues = await validateJsonSchema(tool.inputSchema, args, tool.definitionHash);
  if (issues.length) {
    throw new AppError("invalid_arguments", `Invalid arguments: ${describeIssues(issues)}`, 400, { issues });
  }
  const call = () =>
    withBreaker(ctx.userId, integ.url, effectiveTimeout(opts.timeoutMs), () =>
      callOnSession(
        integ,
        { name, inputSchema: tool.inputSchema, task: taskSupportOf(storedExecution(tool)) === "required" },
        args,
        opts,
      ),
    );
  const out = await call().catch(async (err: unknown) => {
    // docs/oauth.md "More access": when the flow allows it, the wider scope is obtained without the
    // person, once, and the call (refused before it ran) is sent again; otherwise the person is asked.
    const scope = isAppError(err) && err.code === "insufficient_scope" ? err.details?.scope : undefined;
    if (typeof scope !== "string" || !integ.authProvider) throw err;
    const { stepUpWithoutPerson } = await import("@/lib/oauth/grant");
    if (!(await stepUpWithoutPerson(ctx.userId, ctx.integrationId, scope))) throw err;
    return call();
  });
  return { ...out, storePayloads: integ.storePayloads };
}

/**
 * Sends another request than tools/call (resources/read, prompts/get) on the integration's pooled session,
 * under the same per-user limits, circuit breaker, OAuth refresh and error classification as callTool.
 * Owner-scoped: a foreign integration is "not found" before any outbound request. These requests read
 * only, so an expired session is re-opened and the request sent again once. `what` names it in errors
 * ("the resource \"…\""); the result is shape-checked before it is returned.
 */
export async function requestOnSession<T>(
  ctx: CallContext,
  what: string,
  send: (client: McpConnection["client"], o: { timeout: number; signal?: AbortSignal }) => Promise<T>,
  opts: CallOptions = {},
): Promise<{ result: T; latencyMs: number }> {
  const integ = await loadIntegration(ctx.userId, ctx.integrationId);
  const admitted = await admitCall(ctx.userId);
  try {
    const timeout = effectiveTimeout(opts.timeoutMs);
    return await withBreaker(ctx.userId, integ.url, timeout, async () => {
      let entry = await acquire(integ);
      const started = performance.now();
      const once = async (e: Entry) => {
        const result = await send(e.conn.client, { timeout, signal: opts.signal });
        assertJsonShape(result, `The server's answer for ${what.slice(0, 160)}`);
        return result;
      };
      try {
        let result: T;
        try {
          result = await once(entry);
        } catch (err) {
          if (!isSessionGone(err, entry)) throw err;
          release(entry);
          await closeEntry(entry);
          entry = await acquire(integ);
          result = await once(entry);
        }
        return { result, latencyMs: Math.round(performance.now() - started) };
      } catch (err) {
        if (opts.signal?.aborted) throw new AppError("cancelled", `Reading ${what} was cancelled.`, 499);
        if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout) {
          throw new AppError(
            "timeout",
            `The server did not answer for ${what} within ${formatSeconds(timeout)}.`,
            504,
          );
        }
        throw callError(err, entry, integ, what, timeout, opts.signal);
      } finally {
        release(entry);
      }
    });
  } finally {
    admitted();
  }
}

/** The stored definition a call hands the SDK: its SEP-2243 `Mcp-Param-*` headers come from `inputSchema`. */
type CallDefinition = { name: string; inputSchema: unknown; task?: boolean };

/** The tool's stored `execution` (its task support), when the catalog row carries it. */
const storedExecution = (tool: object): unknown => ("execution" in tool ? tool.execution : undefined);

async function callOnSession(
  integ: EngineIntegration,
  tool: CallDefinition,
  args: Record<string, unknown>,
  opts: CallOptions,
): Promise<Omit<CallOutcome, "storePayloads">> {
  const { name } = tool;
  const timeout = effectiveTimeout(opts.timeoutMs);
  let entry = await acquire(integ);
  const started = performance.now();
  try {
    let result: CallToolResult;
    try {
      result = await invoke(entry, tool, args, timeout, opts.signal, opts.onprogress);
    } catch (err) {
      // A 404 (or a v1-style 400 "session") means the server never executed the call: safe to resend once.
      if (!isSessionGone(err, entry)) throw err;
      release(entry);
      await closeEntry(entry);
      entry = await acquire(integ);
      result = await invoke(entry, tool, args, timeout, opts.signal, opts.onprogress);
    }
    return { result, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    throw callError(err, entry, integ, name, timeout, opts.signal);
  } finally {
    release(entry);
  }
}

/**
 * One tools/call through the SDK's `callTool`. The stored definition goes with it (`toolDefinition`, the
 * SDK's way to call a tool listed on another connection), so a pooled session that never listed tools
 * still sends the `Mcp-Param-*` headers its `x-mcp-header` declarations ask for (docs/protocol.md). Only
 * the input schema is handed over: structured results are not validated here, on any session.
 */
async function invoke(
  entry: Entry,
  tool: CallDefinition,
  args: Record<string, unknown>,
  timeout: number,
  signal?: AbortSignal,
  onprogress?: (p: CallProgress) => void,
): Promise<CallToolResult> {
  const { name, inputSchema } = tool;
  // A tool that requires task-based execution runs as a task; the caller gets its final result.
  const result = tool.task
    ? await callToolAsTask(entry.conn.client, { name, arguments: args }, { timeout, signal })
    : ((await entry.conn.client.callTool(
        { name, arguments: args },
        {
          timeout,
          maxTotalTimeout: timeout,
          signal,
          ...(onprogress && { onprogress, resetTimeoutOnProgress: true }),
          toolDefinition: { name, inputSchema } as NonNullable<CallToolRequestOptions["toolDefinition"]>,
        },
      )) as CallToolResult);
  // Checked here, before any caller serializes, stores or renders it (docs/security.md §14).
  assertJsonShape(result, `The result of "${name.slice(0, 128)}"`);
  return result;
}

/**
 * An expired session: 404, or a 400 whose body names the session (servers built on the v1 SDK say so only in
 * their error text, which is the one place it is given).
 */
function isSessionGone(err: unknown, entry: Entry): boolean {
  if (!(err instanceof SdkHttpError) || entry.conn.kind !== "streamable-http") return false;
  if (!(entry.conn.transport as { sessionId?: string }).sessionId) return false;
  return err.status === 404 || (err.status === 400 && /session/i.test(err.message));
}

function callError(
  err: unknown,
  entry: Entry,
  integ: EngineIntegration,
  name: string,
  timeout: number,
  signal?: AbortSignal,
): AppError {
  if (signal?.aborted) return new AppError("cancelled", `The call to "${name}" was cancelled.`, 499);
  if (err instanceof ProtocolError && err.code === HEADER_MISMATCH) {
    // Refused before it ran: the stored definition's headers no longer match the server's (docs/protocol.md).
    scheduleResync(integ.userId, integ.id);
    return new AppError(
      "tool_changed",
      `The server refused the call to "${name.slice(0, 128)}" because its headers don't match the tool's definition (${err.message.slice(0, 200)}). The tool has changed: Poke is re-syncing this integration; try again.`,
      409,
    );
  }
  const timedOut = err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout;
  if (timedOut) {
    return new AppError(
      "timeout",
      `The tool "${name}" did not finish within ${formatSeconds(timeout)}; the call was cancelled.`,
      504,
    );
  }
  const app = isAppError(err)
    ? err
    : classifyMcpError(err, {
        url: new URL(integ.url),
        hasApiKey: !!integ.apiKey,
        oauthGranted: !!integ.authProvider,
      });
  if (app.code === "needs_reauth") void markNeedsReauth(integ, app.message);
  if (app.code === "insufficient_scope" && typeof app.details?.scope === "string")
    void recordStepUpScope(integ, app.details.scope).catch(() => undefined);
  // Transport-level failures leave the session in an unknown state: reconnect next time (never resend now).
  const sessionFine = [
    "protocol_error",
    "too_large",
    "too_deep",
    "input_required",
    "task_failed",
    "task_cancelled",
  ];
  if (!sessionFine.includes(app.code)) void closeEntry(entry);
  return app;
}

/** The server keeps rejecting our OAuth tokens: show Reconnect on the integration. */
async function markNeedsReauth(integ: EngineIntegration, message: string): Promise<void> {
  await setIntegrationState(integ, { status: "needs_reauth", lastError: message }).catch(() => undefined);
}

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

// ---------------------------------------------------------------------------------------------------------
// Session lifecycle

function fingerprintOf(integ: EngineIntegration): string {
  return `${integ.url}\u0000${integ.apiKeyEnc ?? ""}\u0000${integ.authKind}`;
}

async function acquire(integ: EngineIntegration): Promise<Entry> {
  const key = keyOf(integ.userId, integ.id);
  let entry = pool.entries.get(key);
  if (entry && entry.fingerprint !== fingerprintOf(integ)) {
    await closeEntry(entry);
    entry = undefined;
  }
  if (!entry) {
    let opening = pool.opening.get(key);
    if (!opening) {
      opening = open(integ, key).finally(() => pool.opening.delete(key));
      pool.opening.set(key, opening);
    }
    entry = await opening;
  }
  entry.inflight++;
  entry.lastUsed = Date.now();
  if (entry.idleTimer) clearTimeout(entry.idleTimer);
  entry.idleTimer = undefined;
  return entry;
}

function release(entry: Entry): void {
  if (entry.inflight > 0) entry.inflight--;
  entry.lastUsed = Date.now();
  if (entry.inflight === 0 && pool.entries.get(entry.key) === entry) armIdleTimer(entry);
}

function armIdleTimer(entry: Entry): void {
  if (entry.idleTimer) clearTimeout(entry.idleTimer);
  entry.idleTimer = setTimeout(() => {
    if (entry.inflight === 0) void closeEntry(entry);
  }, pool.config.idleMs);
  entry.idleTimer.unref?.();
}

const ERA_VERDICT_TTL_MS = 24 * 60 * 60_000;

/**
 * The era verdict of the last sync, used to skip the server/discover probe (docs/design.md §6.1). Only
 * "legacy" is cached: a modern prior needs the full discover result. It expires, since an upgraded server
 * keeps answering initialize and the verdict would otherwise stick forever.
 */
function eraPrior(integ: EngineIntegration): PriorDiscovery | undefined {
  const fresh = integ.lastSyncedAt && Date.now() - integ.lastSyncedAt.getTime() < ERA_VERDICT_TTL_MS;
  return fresh && integ.protocolEra === "legacy" && integ.transport === "streamable-http"
    ? { kind: "legacy" }
    : undefined;
}

async function open(integ: EngineIntegration, key: string): Promise<Entry> {
  await makeRoom();
  const options = {
    url: integ.url,
    userId: integ.userId,
    apiKey: integ.apiKey,
    authProvider: integ.authProvider,
    transport: knownTransport(integ),
    // Any list the server says changed (tools, resources, prompts) is synced again.
    listChanged: Object.fromEntries(
      (["tools", "resources", "prompts"] as const).map((kind) => [
        kind,
        {
          autoRefresh: false,
          debounceMs: pool.config.resyncDebounceMs,
          onChanged: () => scheduleResync(integ.userId, integ.id),
        },
      ]),
    ),
  };
  const prior = eraPrior(integ);
  // Connecting is not a tool call, so retrying without a (possibly stale) verdict is safe.
  const conn = await (prior
    ? connectMcp({ ...options, prior }).catch(() => connectMcp(options))
    : connectMcp(options));
  const entry: Entry = {
    key,
    userId: integ.userId,
    integrationId: integ.id,
    fingerprint: fingerprintOf(integ),
    conn,
    inflight: 0,
    lastUsed: Date.now(),
  };
  // A transport that closes under us (server restart, network) drops the entry; the next call reconnects.
  const prevOnClose = conn.client.onclose;
  conn.client.onclose = () => {
    prevOnClose?.();
    if (pool.entries.get(key) === entry) pool.entries.delete(key);
  };
  pool.entries.set(key, entry);
  return entry;
}

/** Evicts the least recently used idle sessions when the pool is full. */
async function makeRoom(): Promise<void> {
  if (pool.entries.size < pool.config.maxSessions) return;
  const idle = [...pool.entries.values()]
    .filter((e) => e.inflight === 0)
    .sort((a, b) => a.lastUsed - b.lastUsed);
  const excess = pool.entries.size - pool.config.maxSessions + 1;
  if (idle.length < excess) {
    throw new AppError("busy", "Too many open MCP sessions right now. Try again shortly.", 503);
  }
  await Promise.all(idle.slice(0, excess).map(closeEntry));
}

async function closeEntry(entry: Entry): Promise<void> {
  if (entry.idleTimer) clearTimeout(entry.idleTimer);
  if (pool.entries.get(entry.key) === entry) pool.entries.delete(entry.key);
  await entry.conn.close();
}

/** Closes the pooled session of one integration (after edit, delete, re-authorization). */
export async function dropSession(userId: string, integrationId: string): Promise<void> {
  forgetCallPlans(userId, integrationId);
  const key = keyOf(userId, integrationId);
  const opening = pool.opening.get(key);
  if (opening) await opening.catch(() => undefined);
  const entry = pool.entries.get(key);
  if (entry) await closeEntry(entry);
}

/** Closes every session (shutdown, tests). */
export async function closeAll(): Promise<void> {
  for (const t of pool.resyncTimers.values()) clearTimeout(t);
  pool.resyncTimers.clear();
  await Promise.all([...pool.opening.values()].map((p) => p.catch(() => undefined)));
  await Promise.all([...pool.entries.values()].map(closeEntry));
}

// ---------------------------------------------------------------------------------------------------------
// list_changed → debounced re-sync

function scheduleResync(userId: string, integrationId: string): void {
  const key = keyOf(userId, integrationId);
  const prev = pool.resyncTimers.get(key);
  if (prev) clearTimeout(prev);
  const timer = setTimeout(() => {
    pool.resyncTimers.delete(key);
    // Imported lazily: sync.ts does not depend on the pool, and this keeps the module graph acyclic.
    void import("@/lib/mcp/sync")
      .then(({ syncIntegration }) => syncIntegration(userId, integrationId))
      .catch((err) =>
        log.warn("re-sync after tools/list_changed failed", { integrationId, err: String(err) }),
      );
  }, pool.config.resyncDebounceMs);
  timer.unref?.();
  pool.resyncTimers.set(key, timer);
}
