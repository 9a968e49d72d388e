"use client";
import { useMemo, useState } from "react";
import { ToolResult, type ToolResultView } from "@/components/tool-result";
import { Alert, Button } from "@/components/ui";
import { callToolAction } from "../../actions";
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
    () => (initialValue(schema) as Record<string, unknown>) ?? {},
  );
  const [raw, setRaw] = useState(() => JSON.stringify(value, null, 2));
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState<{ result: ToolResultView; latencyMs: number }>();

  function switchMode(next: "form" | "json") {
    if (next === "json") setRaw(JSON.stringify(value, null, 2));
    else {
      try {
        setValue(JSON.parse(raw));
      } catch {
        return setError("The JSON is not valid; fix it before switching to the form.");
      }
    }
    setError(undefined);
    setMode(next);
  }

  async function run() {
    let args: unknown = value;
    if (mode === "json") {
      try {
        args = JSON.parse(raw || "{}");
      } catch {
        return setError("Arguments are not valid JSON.");
      }
    }
    if (!args || typeof args !== "object" || Array.isArray(args))
      return setError("Arguments must be a JSON object.");
    setError(undefined);
    setOutcome(undefined);
    setPending(true);
    const res = await callToolAction({
      id: integrationId,
      tool: tool.name,
      arguments: args as Record<string, unknown>,
    });
    setPending(false);
    if (!res.ok) return setError(res.error);
    setOutcome({ result: res.data.result as ToolResultView, latencyMs: res.data.latencyMs });
  }

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
          <ObjectFields schema={schema} value={value} onChange={setValue} />
        </div>
      ) : (
        <textarea
          aria-label="Arguments (JSON)"
          className="h-48 w-full rounded-md border border-zinc-300 p-2 font-mono text-xs"
          value={raw}
          onChange={(e) => setRaw(e.target.value)}
        />
      )}
      {error && <Alert>{error}</Alert>}
      <Button onClick={run} disabled={pending}>
        {pending ? "Calling…" : `Call ${tool.name}`}
      </Button>
      {outcome && <ToolResult result={outcome.result} latencyMs={outcome.latencyMs} />}
    </div>
  );
}
