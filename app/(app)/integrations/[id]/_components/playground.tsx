"use client";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { usePathname, useRouter } from "next/navigation";
import { ToolResult, type OutputCheck, type ToolResultView } from "@/components/tool-result";
import { Alert, Badge, Button } from "@/components/ui";
import { describeIssues, type SchemaCheck } from "@/lib/mcp/schema-form";
import { checkToolArgumentsAction } from "../../actions";
import { formSupports, initialValue, ObjectFields, type Schema } from "./schema-form";

export type PlaygroundTool = {
  name: string;
  title: string | null;
  inputSchema: Schema;
  enabled: boolean;
  taskSupport?: "required" | "optional" | "forbidden" | null;
};

/**
 * The playground. Each tool's inputs (and last outcome) are kept in the page while another tool is shown, so
 * switching back finds them as they were. The chosen tool is in the URL (`?tool=`).
 */
export function Playground({
  integrationId,
  tools,
  initialTool,
  initialArgs,
}: {
  integrationId: string;
  tools: PlaygroundTool[];
  initialTool?: string;
  initialArgs?: Record<string, unknown>;
}) {
  const router = useRouter();
  const pathname = usePathname();
  const enabled = tools.filter((t) => t.enabled);
  const [toolName, setToolName] = useState(
    initialTool && enabled.some((t) => t.name === initialTool) ? initialTool : enabled[0]?.name,
  );
  const [drafts] = useState(() => new Map<string, Draft>());
  const unknownTool = initialTool && !enabled.some((t) => t.name === initialTool);

  function choose(name: string) {
    setToolName(name);
    const q = new URLSearchParams(window.location.search);
    q.set("tool", name);
    q.delete("args");
    router.replace(`${pathname}?${q.toString()}`, { scroll: false });
  }

  const tool = enabled.find((t) => t.name === toolName);
  return (
    <div className="space-y-4">
      {unknownTool && (
        <Alert>
          There is no enabled tool named &quot;{initialTool.slice(0, 128)}&quot;; it may be disabled or gone.
        </Alert>
      )}
      <label className="block text-sm">
        <span className="font-medium">Tool</span>
        <select
          aria-label="Tool"
          className="mt-1 block w-full rounded-md border border-zinc-300 bg-white px-2 py-1.5 text-sm"
          value={toolName ?? ""}
          onChange={(e) => choose(e.target.value)}
        >
          {enabled.map((t) => (
            <option key={t.name} value={t.name}>
              {(t.title ? `${t.title} (${t.name})` : t.name) +
                (t.taskSupport === "required" ? " · task" : "")}
            </option>
          ))}
        </select>
      </label>
      {tool?.taskSupport === "required" && (
        <p className="text-sm" data-testid="playground-task">
          <Badge tone="amber">task</Badge>{" "}
          <span className="text-zinc-600">
            This tool runs as a task; the result appears when the task ends.
          </span>
        </p>
      )}
      {!tool && <p className="text-sm text-zinc-500">No enabled tools.</p>}
      {tool && (
        <ToolRunner
          key={tool.name}
          integrationId={integrationId}
          tool={tool}
          initialArgs={tool.name === initialTool ? initialArgs : undefined}
          drafts={drafts}
        />
      )}
    </div>
  );
}

type Progress = { progress: number; total?: number; message?: string };
const CANCELLED = "Cancelled: the server was told to stop the call.";
type Outcome = { result: ToolResultView; latencyMs: number; outputCheck?: OutputCheck };
type Draft = {
  mode: "form" | "json";
  value: Record<string, unknown>;
  raw: string;
  timeoutSec: string;
  outcome?: Outcome;
  error?: string;
};

function ToolRunner({
  integrationId,
  tool,
  initialArgs,
  drafts,
}: {
  integrationId: string;
  tool: PlaygroundTool;
  initialArgs?: Record<string, unknown>;
  drafts: Map<string, Draft>;
}) {
  const schema = useMemo(() => tool.inputSchema ?? { type: "object" }, [tool.inputSchema]);
  const supported = useMemo(() => formSupports(schema), [schema]);
  const [saved] = useState(() => drafts.get(tool.name));
  const [mode, setMode] = useState<"form" | "json">(saved?.mode ?? (supported ? "form" : "json"));
  const [value, setValue] = useState<Record<string, unknown>>(
    () => saved?.value ?? initialArgs ?? (initialValue(schema, schema) as Record<string, unknown>) ?? {},
  );
  const [raw, setRaw] = useState(() => saved?.raw ?? JSON.stringify(value, null, 2));
  const [jsonErrors, setJsonErrors] = useState<Record<string, string>>({});
  const [check, setCheck] = useState<SchemaCheck>();
  const [error, setError] = useState<string | undefined>(saved?.error);
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>(saved?.outcome);
  const [progress, setProgress] = useState<Progress>();
  const [startedAt, setStartedAt] = useState<number>();
  const [now, setNow] = useState(0);
  const [timeoutSec, setTimeoutSec] = useState(saved?.timeoutSec ?? "");
  const [done, setDone] = useState(0);
  const abortRef = useRef<AbortController | null>(null);
  const resultRef = useRef<HTMLDivElement>(null);

  const onJsonError = useCallback((path: string, message: string | undefined) => {
    setJsonErrors((prev) => {
      if (prev[path] === message) return prev;
      const next = { ...prev };
      if (message === undefined) delete next[path];
      else next[path] = message;
      return next;
    });
  }, []);

  // The arguments as they stand: an object, or why they aren't one yet.
  const args = useMemo((): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } => {
    if (mode === "form") return { ok: true, value };
    try {
      const parsed: unknown = JSON.parse(raw || "{}");
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
        return { ok: false, error: "Arguments must be a JSON object." };
      return { ok: true, value: parsed as Record<string, unknown> };
    } catch {
      return { ok: false, error: "Arguments are not valid JSON." };
    }
  }, [mode, raw, value]);

  // Live check against the tool's schema, on the server (the same validator a call goes through).
  useEffect(() => {
    if (!args.ok) return;
    let live = true;
    const timer = setTimeout(async () => {
      const res = await checkToolArgumentsAction({
        id: integrationId,
        tool: tool.name,
        arguments: args.value,
      });
      if (live && res.ok) setCheck(res.data);
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [args, integrationId, tool.name]);

  // Elapsed time ticks while a call runs.
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(timer);
  }, [pending]);

  // After a call (or a refusal), focus lands on its result or error.
  useEffect(() => {
    if (done) resultRef.current?.focus();
  }, [done]);

  useEffect(() => () => abortRef.current?.abort(), []);

  // Kept for when the person comes back to this tool.
  useEffect(() => {
    drafts.set(tool.name, { mode, value, raw, timeoutSec, outcome, error });
  }, [drafts, tool.name, mode, value, raw, timeoutSec, outcome, error]);

  function switchMode(next: "form" | "json") {
    if (next === "json") setRaw(JSON.stringify(value, null, 2));
    else {
      if (!args.ok) return setError("The JSON is not valid; fix it before switching to the form.");
      setValue(args.value);
      setJsonErrors({});
    }
    setError(undefined);
    setMode(next);
  }

  function fail(message: string) {
    setOutcome(undefined);
    setError(message);
    setDone((n) => n + 1);
  }

  async function run() {
    if (pending) return;
    if (!args.ok) return fail(args.error);
    const broken = Object.entries(jsonErrors);
    if (mode === "form" && broken.length)
      return fail(`Fix the JSON first: ${broken.map(([p, m]) => `${p} ${m}`).join("; ")}`);
    let timeoutMs: number | undefined;
    if (timeoutSec.trim()) {
      const s = Number(timeoutSec);
      if (!Number.isFinite(s) || s <= 0 || s > 300)
        return fail("The timeout must be between 1 and 300 seconds.");
      timeoutMs = Math.round(s * 1000);
    }
    setError(undefined);
    setOutcome(undefined);
    setProgress(undefined);
    const ctl = new AbortController();
    abortRef.current = ctl;
    const t0 = Date.now();
    setStartedAt(t0);
    setNow(t0);
    setPending(true);
    try {
      const res = await fetch(`/api/integrations/${encodeURIComponent(integrationId)}/call`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ tool: tool.name, arguments: args.value, timeoutMs }),
        signal: ctl.signal,
      });
      if (!res.ok || !res.body) {
        const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
        return fail(body?.error?.message ?? `The call failed (HTTP ${res.status}).`);
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      // Cancel ends the read at once, whether or not the aborted body's error has reached the pipe yet.
      ctl.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
      let buf = "";
      let ended = false;
      for (;;) {
        const { value: chunk, done: eof } = await reader.read();
        if (chunk) buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.trim()) continue;
          const ev = JSON.parse(line) as
            | ({ type: "progress" } & Progress)
            | ({ type: "result" } & Outcome)
            | { type: "error"; message: string };
          if (ev.type === "progress")
            setProgress({ progress: ev.progress, total: ev.total, message: ev.message });
          else if (ev.type === "result") {
            ended = true;
            setOutcome({ result: ev.result, latencyMs: ev.latencyMs, outputCheck: ev.outputCheck });
            setDone((n) => n + 1);
          } else if (ev.type === "error") {
            ended = true;
            fail(ev.message);
          }
        }
        if (eof) break;
      }
      if (!ended) fail(ctl.signal.aborted ? CANCELLED : "The connection closed before the call finished.");
    } catch {
      if (ctl.signal.aborted) fail(CANCELLED);
      else fail("The call could not be sent. Check your connection and try again.");
    } finally {
      if (abortRef.current === ctl) abortRef.current = null;
      setPending(false);
      setProgress(undefined);
    }
  }

  const issues = check?.status === "invalid" ? check.issues : [];
  const elapsed = pending && startedAt ? Math.max(0, now - startedAt) / 1000 : 0;
  const determinate = progress?.total !== undefined && progress.total > 0;
  return (
    <form
      className="space-y-4"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void run();
      }}
    >
      <div className="flex gap-2 text-sm">
        <Button
          type="button"
          variant={mode === "form" ? "primary" : "secondary"}
          onClick={() => switchMode("form")}
          disabled={!supported}
          aria-pressed={mode === "form"}
        >
          Form
        </Button>
        <Button
          type="button"
          variant={mode === "json" ? "primary" : "secondary"}
          onClick={() => switchMode("json")}
          aria-pressed={mode === "json"}
        >
          Raw JSON
        </Button>
      </div>
      {mode === "form" ? (
        <div className="space-y-3">
          <ObjectFields
            schema={schema}
            value={value}
            onChange={setValue}
            issues={issues}
            onJsonError={onJsonError}
          />
        </div>
      ) : (
        <textarea
          aria-label="Arguments (JSON)"
          className="h-48 w-full rounded-md border border-zinc-300 p-2 font-mono text-xs"
          value={raw}
          onChange={(e) => setRaw(e.target.value)}
        />
      )}
      <p className="text-xs" data-testid="schema-check" aria-live="polite">
        {!args.ok ? (
          <span className="text-red-700">{args.error}</span>
        ) : check?.status === "valid" ? (
          <span className="text-emerald-700">Arguments match the schema.</span>
        ) : check?.status === "invalid" ? (
          <span className="text-red-700">{describeIssues(check.issues)}</span>
        ) : check?.status === "unchecked" ? (
          <span className="text-zinc-500">Not validated here ({check.reason}); the server will judge.</span>
        ) : null}
      </p>
      <div className="flex flex-wrap items-end gap-3">
        <label className="text-sm">
          <span className="block font-medium">Timeout (seconds)</span>
          <input
            type="number"
            min={1}
            max={300}
            inputMode="numeric"
            placeholder="default"
            aria-label="Timeout (seconds)"
            className="mt-1 w-28 rounded-md border border-zinc-300 px-2 py-1.5 text-sm"
            value={timeoutSec}
            onChange={(e) => setTimeoutSec(e.target.value)}
          />
        </label>
        <Button type="submit" disabled={pending}>
          {pending ? "Calling…" : `Call ${tool.name}`}
        </Button>
        {pending && (
          <Button type="button" variant="danger" onClick={() => abortRef.current?.abort()}>
            Cancel
          </Button>
        )}
      </div>
      <div aria-live="polite" className="space-y-1" data-testid="call-progress">
        {pending && (
          <>
            {determinate ? (
              <progress
                className="h-2 w-full"
                max={progress!.total}
                value={progress!.progress}
                aria-label="Progress"
              />
            ) : (
              <progress className="h-2 w-full" aria-label="Progress" />
            )}
            <p className="text-xs text-zinc-600">
              <span data-testid="call-elapsed">{elapsed.toFixed(1)} s</span>
              {progress && (
                <>
                  {" · "}
                  {determinate ? `${progress.progress} of ${progress.total}` : `${progress.progress}`}
                  {progress.message && (
                    <>
                      {" · "}
                      <span data-testid="progress-message">{progress.message}</span>
                    </>
                  )}
                </>
              )}
            </p>
          </>
        )}
      </div>
      <div
        ref={resultRef}
        tabIndex={-1}
        className="space-y-3 outline-none focus-visible:ring-2"
        data-testid="call-outcome"
      >
        {error && <Alert>{error}</Alert>}
        {outcome && (
          <ToolResult
            integrationId={integrationId}
            result={outcome.result}
            latencyMs={outcome.latencyMs}
            outputCheck={outcome.outputCheck}
          />
        )}
      </div>
    </form>
  );
}
