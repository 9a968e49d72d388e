// Task-based tool execution (MCP 2025-11-25 "tasks"): a tool whose definition says
// `execution.taskSupport: "required"` is called with a `task` parameter, answers with a task, and its result
// is fetched once the task is terminal. The engine does this inside the pooled call path, so every caller
// (playground, /api/v1, /api/mcp) gets the final CallToolResult as from a plain call.
// The SDK (2.4) keeps the task wire vocabulary but no task runtime: the requests go through its
// explicit-schema `request()`, validated with the SDK's own spec schemas.
import {
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  specTypeSchemas,
  type CallToolResult,
  type Client,
  type StandardSchemaV1,
} from "@modelcontextprotocol/client";
import { AppError } from "@/lib/errors";

export type TaskSupport = "required" | "optional" | "forbidden";

/** The stored `execution` JSON of a tool → its task support, or null when absent or unreadable. */
export function taskSupportOf(execution: unknown): TaskSupport | null {
  let value = execution;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  const t = (value as { taskSupport?: unknown } | null)?.taskSupport;
  return t === "required" || t === "optional" || t === "forbidden" ? t : null;
}

type TaskState = SpecTask["status"];
type SpecTask = NonNullable<ReturnType<typeof parseTask>>;

export type TaskUpdate = { status: TaskState; message?: string; elapsedMs: number };

export type TaskCallOptions = {
  /** The whole task (create, polls, result) must finish within this many ms. */
  timeout: number;
  signal?: AbortSignal;
  /** Each status the task reports (status messages are shown as progress). */
  onUpdate?: (u: TaskUpdate) => void;
};

const TERMINAL = new Set<TaskState>(["completed", "failed", "cancelled"]);
/** Bounds on the server's suggested poll interval. */
const MIN_POLL_MS = 200;
const MAX_POLL_MS = 5_000;
const DEFAULT_POLL_MS = 1_000;
/** tasks/cancel after a timeout or a cancel is best effort, and never holds the caller. */
const CANCEL_TIMEOUT_MS = 5_000;
/** How long past the call's own timeout the server is asked to keep the task. */
const TTL_MARGIN_MS = 60_000;

function parseTask(value: unknown) {
  const r = specTypeSchemas.Task["~standard"].validate(value);
  return r.issues ? undefined : r.value;
}

/** Accepts any JSON object; the caller tells a task from a plain result. */
const anyObject: StandardSchemaV1<Record<string, unknown>> = {
  "~standard": {
    version: 1,
    vendor: "poke",
    validate: (value) =>
      value && typeof value === "object" && !Array.isArray(value)
        ? { value: value as Record<string, unknown> }
        : { issues: [{ message: "expected an object" }] },
  },
};

function callToolResultOf(value: unknown, what: string): CallToolResult {
  const r = specTypeSchemas.CallToolResult["~standard"].validate(value);
  if (r.issues) {
    throw new AppError(
      "protocol_error",
      `${what} is not a tool result: ${r.issues[0]?.message ?? "invalid"}`.slice(0, 300),
      502,
    );
  }
  return value as CallToolResult;
}

/**
 * Calls a task-required tool: tools/call with `task` → poll tasks/get (at the server's pollInterval) until
 * terminal → tasks/result. Cancelling through `signal` or running out of `timeout` sends tasks/cancel and
 * throws as a plain call would (a RequestTimeout SdkError on timeout). A task that needs input from the
 * person (input_required: elicitation) is cancelled and fails clearly: Poke can't answer such requests.
 */
export async function callToolAsTask(
  client: Client,
  params: { name: string; arguments: Record<string, unknown> },
  opts: TaskCallOptions,
): Promise<CallToolResult> {
  const started = Date.now();
  const deadline = started + opts.timeout;
  const remaining = () => deadline - Date.now();
  const timedOut = () =>
    new SdkError(SdkErrorCode.RequestTimeout, "Request timed out", { timeout: opts.timeout });
  const name = params.name.slice(0, 128);

  const created = await client.request(
    {
      method: "tools/call",
      params: { ...params, task: { ttl: opts.timeout + TTL_MARGIN_MS } },
    },
    anyObject,
    { timeout: opts.timeout, maxTotalTimeout: opts.timeout, signal: opts.signal },
  );
  // A server may run the call at once and answer with its result instead of a task.
  if (!("task" in created)) return callToolResultOf(created, `The answer to "${name}"`);
  let task = parseTask(created.task);
  if (!task) throw new AppError("protocol_error", `The server's task for "${name}" is malformed.`, 502);
  const taskId = task.taskId;

  const cancelTask = () =>
    client
      .request({ method: "tasks/cancel", params: { taskId } }, anyObject, { timeout: CANCEL_TIMEOUT_MS })
      .then(
        () => undefined,
        () => undefined,
      );

  try {
    for (;;) {
      opts.onUpdate?.({
        status: task.status,
        message: task.statusMessage ?? undefined,
        elapsedMs: Date.now() - started,
      });
      if (TERMINAL.has(task.status)) break;
      if (task.status === "input_required") {
        await cancelTask();
        const said = task.statusMessage ? ` ("${task.statusMessage.slice(0, 200)}")` : "";
        throw new AppError(
          "input_required",
          `The tool "${name}" asked for more input${said}, which Poke can't provide yet; its task was cancelled.`,
          422,
        );
      }
      const wait = Math.min(
        Math.max(task.pollInterval ?? DEFAULT_POLL_MS, MIN_POLL_MS),
        MAX_POLL_MS,
        Math.max(remaining(), 0),
      );
      await pause(wait, opts.signal);
      if (remaining() <= 0) throw timedOut();
      const next = await client.request({ method: "tasks/get", params: { taskId } }, anyObject, {
        timeout: remaining(),
        signal: opts.signal,
      });
      const parsed = parseTask(next);
      if (!parsed || parsed.taskId !== taskId)
        throw new AppError(
          "protocol_error",
          `The server's status of the task for "${name}" is malformed.`,
          502,
        );
      task = parsed;
    }

    if (task.status === "cancelled") {
      const said = task.statusMessage ? `: ${task.statusMessage.slice(0, 200)}` : ".";
      throw new AppError("task_cancelled", `The server cancelled the task of "${name}"${said}`, 502);
    }
    // completed, or failed: a failed task's result is what the call would have answered (often isError).
    const failed = task.status === "failed";
    const statusMessage = task.statusMessage;
    const payload = await client
      .request({ method: "tasks/result", params: { taskId } }, anyObject, {
        timeout: Math.max(remaining(), 1),
        signal: opts.signal,
      })
      .catch((err: unknown) => {
        if (!failed || opts.signal?.aborted || isTimeout(err)) throw err;
        const said = statusMessage ? `: ${statusMessage.slice(0, 200)}` : ".";
        throw new AppError("task_failed", `The task of "${name}" failed${said}`, 502);
      });
    return callToolResultOf(payload, `The result of the task of "${name}"`);
  } catch (err) {
    if (opts.signal?.aborted || isTimeout(err)) void cancelTask();
    // The session went away after the task was created: the call must not be sent again (it ran).
    if (err instanceof SdkHttpError && (err.status === 404 || err.status === 400))
      throw new AppError(
        "task_lost",
        `The server lost the session while the task of "${name}" was running, so its result can't be fetched.`,
        502,
      );
    throw err;
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout;
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error("aborted"));
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error("aborted"));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
