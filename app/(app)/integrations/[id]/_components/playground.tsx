"use client";
import { useCallback, useEffect, useMemo, useState } from "react";
import { ToolResult, type ToolResultView } from "@/components/tool-result";
import { Alert, Button } from "@/components/ui";
import { describeIssues, type SchemaCheck } from "@/lib/mcp/schema-form";
import { callToolAction, checkToolArgumentsAction } from "../../actions";
import { formSupports, initialValue, ObjectFields, type Schema } from "./schema-form";

export type PlaygroundTool = { name: string; title: string | null; inputSchema: Schema; enabled: boolean };

export function Playground({
  integrationId,
  tools,
  initialTool,
}: {
  integrationId: string;
  tools: PlaygroundTool[];
  initialTool?: string;
}) {
  const enabled = tools.filter((t) => t.enabled);
  const [toolName, setToolName] = useState(
    initialTool && enabled.some((t) => t.name === initialTool) ? initialTool : enabled[0]?.name,
  );
  const tool = enabled.find((t) => t.name === toolName);
  return (
    <div className="space-y-4">
      <label className="block text-sm">
        <span className="font-medium">Tool</span>
        <select
          aria-label="Tool"
          className="mt-1 block w-full rounded-md border border-zinc-300 bg-white px-2 py-1.5 text-sm"
          value={toolName ?? ""}
          onChange={(e) => setToolName(e.target.value)}
        >
          {enabled.map((t) => (
            <option key={t.name} value={t.name}>
              {t.title ? `${t.title} (${t.name})` : t.name}
            </option>
          ))}
        </select>
      </label>
      {tool ? (
        <ToolRunner key={tool.name} integrationId={integrationId} tool={tool} />
      ) : (
        <p className="text-sm text-zinc-500">No enabled tools.</p>
      )}
    </div>
  );
}

function ToolRunner({ integrationId, tool }: { integrationId: string; tool: PlaygroundTool }) {
  const schema = useMemo(() => tool.inputSchema ?? { type: "object" }, [tool.inputSchema]);
  const supported = useMemo(() => formSupports(schema), [schema]);
  const [mode, setMode] = useState<"form" | "json">(supported ? "form" : "json");
  const [value, setValue] = useState<Record<string, unknown>>(
    () => (initialValue(schema, schema) as Record<string, unknown>) ?? {},
  );
  const [raw, setRaw] = useState(() => JSON.stringify(value, null, 2));
  const [jsonErrors, setJsonErrors] = useState<Record<string, string>>({});
  const [check, setCheck] = useState<SchemaCheck>();
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState<{ result: ToolResultView; latencyMs: number }>();

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

  async function run() {
    if (!args.ok) return setError(args.error);
    const broken = Object.entries(jsonErrors);
    if (mode === "form" && broken.length)
      return setError(`Fix the JSON first: ${broken.map(([p, m]) => `${p} ${m}`).join("; ")}`);
    setError(undefined);
    setOutcome(undefined);
    setPending(true);
    const res = await callToolAction({ id: integrationId, tool: tool.name, arguments: args.value });
    setPending(false);
    if (!res.ok) return setError(res.error);
    setOutcome({ result: res.data.result as ToolResultView, latencyMs: res.data.latencyMs });
  }

  const issues = check?.status === "invalid" ? check.issues : [];
  return (
    <div className="space-y-4">
      <div className="flex gap-2 text-sm">
        <Button
          variant={mode === "form" ? "primary" : "secondary"}
          onClick={() => switchMode("form")}
          disabled={!supported}
        >
          Form
        </Button>
        <Button variant={mode === "json" ? "primary" : "secondary"} onClick={() => switchMode("json")}>
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
      {error && <Alert>{error}</Alert>}
      <Button onClick={run} disabled={pending}>
        {pending ? "Calling…" : `Call ${tool.name}`}
      </Button>
      {outcome && <ToolResult result={outcome.result} latencyMs={outcome.latencyMs} />}
    </div>
  );
}
