"use client";
// Renders an MCP tool result. Everything a server sends is data: text is rendered as text, links only when
// https, images and audio only as validated data: URLs of an allowlisted type (docs/security.md §15); SVG
// is refused. Large results are collapsed with their size, expandable and downloadable.
import { useMemo, useRef, useState } from "react";
import { Alert, Badge, Button } from "@/components/ui";
import type { SchemaCheck } from "@/lib/mcp/schema-form";
import { CopyButton } from "@/components/copy-button";
import { AUDIO_TYPES, base64Bytes, formatBytes, IMAGE_TYPES, mediaSrc, str } from "@/components/media";
import { ReadResult, ResourceContentView, type ResourceContent } from "@/components/resource-contents";
import { readResourceAction } from "@/app/(app)/integrations/[id]/resource-actions";

type Content = { type?: string; [k: string]: unknown };
export type ToolResultView = { content?: Content[]; structuredContent?: unknown; isError?: boolean };
export type OutputCheck = SchemaCheck;

/** Results (or text blocks) above this are collapsed until asked for. */
export const LARGE_RESULT_BYTES = 50 * 1024;
const byteLength = (s: string) => new TextEncoder().encode(s).length;

function safeHttpsHref(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  try {
    const u = new URL(raw);
    return u.protocol === "https:" && !u.username && !u.password ? u.href : null;
  } catch {
    return null;
  }
}

/** Saves text as a file (an object URL typed as opaque data, never navigated to). */
function download(text: string, name: string, type = "application/octet-stream") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Text that is collapsed past LARGE_RESULT_BYTES, with its size, a Show and a Download. */
function BigText({ text, name, className }: { text: string; name: string; className: string }) {
  const size = useMemo(() => byteLength(text), [text]);
  const [open, setOpen] = useState(size <= LARGE_RESULT_BYTES);
  if (open) return <pre className={className}>{text}</pre>;
  return (
    <div
      className="flex flex-wrap items-center gap-2 rounded border border-dashed border-zinc-300 p-3 text-sm"
      data-testid="large-collapsed"
    >
      <span>Large content: {formatBytes(size)} — collapsed.</span>
      <Button type="button" variant="secondary" onClick={() => setOpen(true)}>
        Show it
      </Button>
      <Button type="button" variant="secondary" onClick={() => download(text, name, "text/plain")}>
        Download
      </Button>
    </div>
  );
}

function Annotations({ a }: { a: unknown }) {
  if (!a || typeof a !== "object") return null;
  const { audience, priority, lastModified } = a as Record<string, unknown>;
  const parts: string[] = [];
  if (Array.isArray(audience)) parts.push(`audience: ${audience.map(String).join(", ")}`);
  if (typeof priority === "number") parts.push(`priority: ${priority}`);
  if (typeof lastModified === "string") parts.push(`last modified: ${lastModified}`);
  if (!parts.length) return null;
  return (
    <div className="flex flex-wrap gap-1 text-xs" data-testid="annotations">
      {parts.map((p) => (
        <Badge key={p} tone="sky">
          {p}
        </Badge>
      ))}
    </div>
  );
}

function ImageBlock({ c }: { c: Content }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [zoom, setZoom] = useState(false);
  const mime = str(c.mimeType).toLowerCase();
  const size = formatBytes(base64Bytes(str(c.data)));
  if (mime === "image/svg+xml")
    return <p className="text-sm text-zinc-500">SVG image not shown ({size}): SVG can carry scripts.</p>;
  const src = mediaSrc(IMAGE_TYPES, c.mimeType, c.data);
  if (!src)
    return <p className="text-sm text-zinc-500">Image not shown: unsupported type or invalid data.</p>;
  return (
    <figure className="space-y-1" data-testid="result-image">
      <button
        type="button"
        onClick={() => {
          setZoom(true);
          dialog.current?.showModal();
        }}
        aria-label="Zoom the image"
        className="block"
      >
        {/* eslint-disable-next-line @next/next/no-img-element -- a validated data: URL, nothing to optimize */}
        <img
          src={src}
          alt="Image returned by the tool"
          className="max-h-96 max-w-full cursor-zoom-in rounded border"
        />
      </button>
      <figcaption className="text-xs text-zinc-500">
        {mime} · {size}
      </figcaption>
      <dialog
        ref={dialog}
        aria-label="Image"
        className="max-h-[95vh] max-w-[95vw] rounded p-2 backdrop:bg-black/70"
        onClose={() => setZoom(false)}
      >
        {zoom && (
          <>
            {/* eslint-disable-next-line @next/next/no-img-element -- a validated data: URL */}
            <img src={src} alt="Image returned by the tool, full size" className="max-w-none" />
          </>
        )}
        <form method="dialog" className="mt-2 text-right">
          <Button type="submit" variant="secondary">
            Close
          </Button>
        </form>
      </dialog>
    </figure>
  );
}

function ResourceLink({ c, integrationId }: { c: Content; integrationId?: string }) {
  const uri = str(c.uri);
  const href = safeHttpsHref(c.uri);
  const [state, setState] = useState<{ busy: boolean; error?: string; contents?: ResourceContent[] }>();
  async function read() {
    if (!integrationId) return;
    setState({ busy: true });
    const res = await readResourceAction({ id: integrationId, uri });
    if (!res.ok) return setState({ busy: false, error: res.error });
    const contents = (res.data as { contents?: unknown })?.contents;
    setState({ busy: false, contents: Array.isArray(contents) ? (contents as ResourceContent[]) : [] });
  }
  return (
    <div className="space-y-2 rounded border border-zinc-200 p-3 text-sm" data-testid="resource-link">
      <div className="flex flex-wrap items-center gap-2">
        <span className="font-medium">Resource link: {str(c.title) || str(c.name) || "resource"}</span>
        {str(c.mimeType) && <Badge>{str(c.mimeType)}</Badge>}
        {typeof c.size === "number" && <span className="text-xs text-zinc-500">{formatBytes(c.size)}</span>}
      </div>
      <code className="block break-all text-xs">{uri}</code>
      {str(c.description) && <p className="text-zinc-600">{str(c.description)}</p>}
      <div className="flex flex-wrap gap-2">
        {integrationId && (
          <Button type="button" variant="secondary" onClick={read} disabled={state?.busy}>
            {state?.busy ? "Reading…" : "Read"}
          </Button>
        )}
        {href && (
          <a
            href={href}
            rel="noopener noreferrer nofollow"
            target="_blank"
            className="self-center text-indigo-700 underline"
          >
            Open link
          </a>
        )}
      </div>
      {state?.error && <Alert>{state.error}</Alert>}
      {state?.contents && <ReadResult contents={state.contents} />}
    </div>
  );
}

function Block({ c, integrationId }: { c: Content; integrationId?: string }) {
  const body = (() => {
    switch (c.type) {
      case "text":
        return (
          <BigText
            text={String(c.text ?? "")}
            name="result.txt"
            className="max-h-[32rem] overflow-auto whitespace-pre-wrap break-words rounded bg-zinc-50 p-3 text-sm"
          />
        );
      case "image":
        return <ImageBlock c={c} />;
      case "audio": {
        const src = mediaSrc(AUDIO_TYPES, c.mimeType, c.data);
        return (
          <div className="space-y-1 text-sm" data-testid="result-audio">
            {src ? (
              <audio controls src={src} className="max-w-full" />
            ) : (
              <p className="text-zinc-500">Audio not playable here: unsupported type or invalid data.</p>
            )}
            <p className="text-xs text-zinc-500">
              {str(c.mimeType) || "unknown type"} · {formatBytes(base64Bytes(str(c.data)))}
            </p>
          </div>
        );
      }
      case "resource":
        return (
          <div data-testid="embedded-resource">
            <div className="mb-1 text-xs font-medium uppercase text-zinc-500">Embedded resource</div>
            <ResourceContentView c={(c.resource ?? {}) as ResourceContent} />
          </div>
        );
      case "resource_link":
        return <ResourceLink c={c} integrationId={integrationId} />;
      default:
        return <BigText text={JSON.stringify(c, null, 2)} name="content.json" className={JSON_CLASS} />;
    }
  })();
  return (
    <div className="min-w-0 space-y-1">
      {body}
      <Annotations a={c.annotations} />
    </div>
  );
}

const JSON_CLASS = "max-h-96 overflow-auto rounded bg-zinc-900 p-3 text-xs text-zinc-100";

function OutputVerdict({ check }: { check: OutputCheck }) {
  return (
    <p className="text-sm" data-testid="output-check">
      {check.status === "valid" ? (
        <span className="text-emerald-700">Structured content matches the output schema.</span>
      ) : check.status === "invalid" ? (
        <span className="text-red-700">
          Structured content does not match the output schema:{" "}
          {check.issues
            .slice(0, 5)
            .map((i) => `${i.path || "(root)"} ${i.message}`)
            .join("; ")}
        </span>
      ) : (
        <span className="text-zinc-500">Output schema not checked here ({check.reason}).</span>
      )}
    </p>
  );
}

export function ToolResult({
  result,
  latencyMs,
  outputCheck,
  integrationId,
}: {
  result: ToolResultView;
  latencyMs?: number;
  outputCheck?: OutputCheck;
  integrationId?: string;
}) {
  const [raw, setRaw] = useState(false);
  const json = useMemo(() => JSON.stringify(result, null, 2), [result]);
  const text = useMemo(
    () =>
      (result.content ?? [])
        .filter((c) => c.type === "text")
        .map((c) => String(c.text ?? ""))
        .join("\n"),
    [result],
  );
  const size = useMemo(() => byteLength(json), [json]);
  return (
    <div
      className={`space-y-3 rounded border p-3 ${result.isError ? "border-red-300 bg-red-50" : "border-zinc-200"}`}
      data-testid="tool-result"
      role={result.isError ? "alert" : undefined}
    >
      <div className="flex flex-wrap items-center gap-2 text-sm">
        {result.isError ? <Badge tone="red">tool error</Badge> : <Badge tone="green">ok</Badge>}
        {latencyMs !== undefined && (
          <span className="text-zinc-500" data-testid="tool-latency">
            {latencyMs} ms
          </span>
        )}
        <span className="text-zinc-500" data-testid="result-size">
          {formatBytes(size)}
        </span>
        <span className="ml-auto flex flex-wrap gap-2">
          <Button type="button" variant="secondary" aria-pressed={raw} onClick={() => setRaw((r) => !r)}>
            Raw JSON
          </Button>
          {text && <CopyButton text={text} label="Copy text" />}
          <CopyButton text={json} label="Copy JSON" />
          <Button
            type="button"
            variant="secondary"
            onClick={() => download(json, "result.json", "application/json")}
          >
            Download
          </Button>
        </span>
      </div>
      {result.isError && <p className="text-sm font-medium text-red-800">The tool reported an error.</p>}
      {raw ? (
        <div data-testid="raw-json">
          <BigText text={json} name="result.json" className={JSON_CLASS} />
        </div>
      ) : (
        <>
          {(result.content ?? []).map((c, i) => (
            <Block key={i} c={c} integrationId={integrationId} />
          ))}
          {result.structuredContent !== undefined && (
            <div>
              <div className="mb-1 text-xs font-medium uppercase text-zinc-500">Structured content</div>
              <BigText
                text={JSON.stringify(result.structuredContent, null, 2)}
                name="structured-content.json"
                className={JSON_CLASS}
              />
            </div>
          )}
        </>
      )}
      {outputCheck && <OutputVerdict check={outputCheck} />}
    </div>
  );
}
