"use client";
// Renders what `resources/read` and `prompts/get` return. Everything a server sends is data: text in a <pre>,
// binary as type, size and a download, images only previewed from validated base64 of an allowlisted type
// (docs/security.md §15); nothing is ever rendered as markup.
import { useEffect, useMemo, useState } from "react";
import {
  AUDIO_TYPES,
  BASE64,
  base64Bytes,
  formatBytes,
  IMAGE_TYPES,
  mediaSrc,
  str,
} from "@/components/media";
import { Badge } from "@/components/ui";

export type ResourceContent = {
  uri?: unknown;
  mimeType?: unknown;
  text?: unknown;
  blob?: unknown;
  name?: unknown;
};
export type PromptContent = { type?: unknown; [k: string]: unknown };

/** A download link for base64 data, as an object URL of the decoded bytes (typed as opaque binary). */
function Download({ b64, name }: { b64: string; name: string }) {
  const href = useMemo(() => {
    if (!BASE64.test(b64)) return null;
    try {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    } catch {
      return null;
    }
  }, [b64]);
  useEffect(() => () => void (href && URL.revokeObjectURL(href)), [href]);
  if (!href) return <span className="text-zinc-500">not valid base64</span>;
  return (
    <a href={href} download={name} className="text-indigo-700 underline">
      Download
    </a>
  );
}

function fileNameOf(uri: string): string {
  const last = uri.split(/[/?#]/).filter(Boolean).pop() ?? "resource";
  return last.replace(/[^\w.-]+/g, "_").slice(0, 100) || "resource";
}

/** One entry of a ReadResourceResult's `contents` (or an embedded resource). */
export function ResourceContentView({ c }: { c: ResourceContent }) {
  const uri = str(c.uri);
  const mime = str(c.mimeType);
  const blob = typeof c.blob === "string" ? c.blob : undefined;
  const text = typeof c.text === "string" ? c.text : undefined;
  const image = blob ? mediaSrc(IMAGE_TYPES, mime, blob) : null;
  return (
    <div
      className="min-w-0 space-y-2 rounded border border-zinc-200 p-3 text-sm"
      data-testid="resource-content"
    >
      <div className="flex flex-wrap items-center gap-2 text-xs text-zinc-500">
        <code className="min-w-0 break-all">{uri || "(no uri)"}</code>
        {mime && <Badge>{mime}</Badge>}
        {text !== undefined && <span>{formatBytes(new TextEncoder().encode(text).length)}</span>}
        {blob !== undefined && <span>{formatBytes(base64Bytes(blob))}</span>}
      </div>
      {text !== undefined && (
        <pre className="max-h-96 overflow-auto whitespace-pre-wrap break-words rounded bg-zinc-50 p-3 text-sm">
          {text}
        </pre>
      )}
      {blob !== undefined && (
        <div className="space-y-2">
          {image && (
            // eslint-disable-next-line @next/next/no-img-element -- a validated data: URL, nothing to optimize
            <img src={image} alt={`Preview of ${uri}`} className="max-h-96 max-w-full rounded border" />
          )}
          <div className="flex flex-wrap items-center gap-2">
            <span className="text-zinc-600">Binary content ({mime || "unknown type"})</span>
            <Download b64={blob} name={fileNameOf(uri)} />
          </div>
        </div>
      )}
      {text === undefined && blob === undefined && <p className="text-zinc-500">No content.</p>}
    </div>
  );
}

/** A prompt message's content block: text, image, audio, embedded resource or resource link. */
export function PromptContentView({
  c,
  onReadLink,
}: {
  c: PromptContent;
  onReadLink?: (uri: string) => void;
}) {
  switch (c.type) {
    case "text":
      return (
        <pre className="whitespace-pre-wrap break-words rounded bg-zinc-50 p-3 text-sm">{str(c.text)}</pre>
      );
    case "image":
    case "audio": {
      const mime = str(c.mimeType);
      const data = str(c.data);
      const src = mediaSrc(c.type === "image" ? IMAGE_TYPES : AUDIO_TYPES, mime, data);
      return (
        <div className="space-y-1 text-sm">
          <div className="text-xs text-zinc-500">
            {c.type} · {mime || "unknown type"} · {formatBytes(base64Bytes(data))}
          </div>
          {src && c.type === "image" && (
            // eslint-disable-next-line @next/next/no-img-element -- a validated data: URL, nothing to optimize
            <img src={src} alt="Image in the prompt" className="max-h-96 max-w-full rounded border" />
          )}
          {src && c.type === "audio" && <audio controls src={src} className="max-w-full" />}
          {!src && <p className="text-zinc-500">Not previewed: unsupported type or invalid data.</p>}
        </div>
      );
    }
    case "resource":
      return <ResourceContentView c={(c.resource ?? {}) as ResourceContent} />;
    case "resource_link": {
      const uri = str(c.uri);
      return (
        <div className="flex flex-wrap items-center gap-2 text-sm">
          <span>Resource link:</span>
          <span className="font-medium">{str(c.name) || uri}</span>
          <code className="min-w-0 break-all text-xs text-zinc-500">{uri}</code>
          {onReadLink && uri && (
            <button
              type="button"
              onClick={() => onReadLink(uri)}
              className="rounded-md border border-zinc-300 px-2 py-0.5 text-xs font-medium hover:bg-zinc-100"
            >
              Read
            </button>
          )}
        </div>
      );
    }
    default:
      return (
        <pre className="max-h-72 overflow-auto whitespace-pre-wrap break-words rounded bg-zinc-50 p-2 text-xs">
          {JSON.stringify(c, null, 2)}
        </pre>
      );
  }
}

/** The contents of a ReadResourceResult. */
export function ReadResult({ contents }: { contents: ResourceContent[] }) {
  if (contents.length === 0) return <p className="text-sm text-zinc-500">The server returned no contents.</p>;
  return (
    <div className="space-y-2" data-testid="resource-result">
      {contents.map((c, i) => (
        <ResourceContentView key={i} c={c} />
      ))}
    </div>
  );
}

/** Shows a ReadResourceResult under whatever asked for it, with its own busy and error states. */
export function useReader(
  read: (uri: string) => Promise<{ ok: true; data: unknown } | { ok: false; error: string }>,
) {
  const [state, setState] = useState<
    { uri: string; busy: boolean; error?: string; contents?: ResourceContent[] } | undefined
  >();
  async function run(uri: string) {
    setState({ uri, busy: true });
    const res = await read(uri);
    if (!res.ok) return setState({ uri, busy: false, error: res.error });
    const contents = (res.data as { contents?: unknown })?.contents;
    setState({ uri, busy: false, contents: Array.isArray(contents) ? (contents as ResourceContent[]) : [] });
  }
  return { state, run, clear: () => setState(undefined) };
}
