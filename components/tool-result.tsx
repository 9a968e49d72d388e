// Renders an MCP tool result. Everything a server sends is data: text is rendered as text, links only when
// https, images only as validated data: URLs of an allowlisted type (docs/security.md §15).
import { Badge } from "@/components/ui";

type Content = { type?: string; [k: string]: unknown };
export type ToolResultView = { content?: Content[]; structuredContent?: unknown; isError?: boolean };

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const MAX_IMAGE_BASE64 = 8 * 1024 * 1024;

function safeImageSrc(c: Content): string | null {
  const mime = typeof c.mimeType === "string" ? c.mimeType.toLowerCase() : "";
  const data = typeof c.data === "string" ? c.data : "";
  if (!IMAGE_TYPES.has(mime) || !data || data.length > MAX_IMAGE_BASE64 || !BASE64.test(data)) return null;
  return `data:${mime};base64,${data}`;
}

function safeHttpsHref(raw: unknown): string | null {
  if (typeof raw !== "string") return null;
  try {
    const u = new URL(raw);
    return u.protocol === "https:" && !u.username && !u.password ? u.href : null;
  } catch {
    return null;
  }
}

function Json({ value }: { value: unknown }) {
  return (
    <pre className="max-h-96 overflow-auto rounded bg-zinc-900 p-3 text-xs text-zinc-100">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

function Block({ c }: { c: Content }) {
  switch (c.type) {
    case "text":
      return (
        <pre className="whitespace-pre-wrap break-words rounded bg-zinc-50 p-3 text-sm">
          {String(c.text ?? "")}
        </pre>
      );
    case "image": {
      const src = safeImageSrc(c);
      return src ? (
        // eslint-disable-next-line @next/next/no-img-element -- a validated data: URL, nothing to optimize
        <img src={src} alt="Image returned by the tool" className="max-h-96 rounded border" />
      ) : (
        <p className="text-sm text-zinc-500">Image not shown: unsupported or invalid data.</p>
      );
    }
    case "audio":
      return <p className="text-sm text-zinc-500">Audio content ({String(c.mimeType ?? "unknown type")}).</p>;
    case "resource": {
      const r = (c.resource ?? {}) as { uri?: unknown; mimeType?: unknown; text?: unknown; blob?: unknown };
      return (
        <div className="rounded border border-zinc-200 p-3 text-sm">
          <div className="mb-1 text-xs text-zinc-500">
            Embedded resource <code>{String(r.uri ?? "")}</code> {r.mimeType ? `(${String(r.mimeType)})` : ""}
          </div>
          {typeof r.text === "string" ? (
            <pre className="whitespace-pre-wrap break-words">{r.text}</pre>
          ) : (
            <span className="text-zinc-500">
              Binary content ({typeof r.blob === "string" ? r.blob.length : 0} base64 characters)
            </span>
          )}
        </div>
      );
    }
    case "resource_link": {
      const href = safeHttpsHref(c.uri);
      const label = String(c.name ?? c.uri ?? "resource");
      return (
        <div className="text-sm">
          Resource link:{" "}
          {href ? (
            <a
              href={href}
              rel="noopener noreferrer nofollow"
              target="_blank"
              className="text-indigo-700 underline"
            >
              {label}
            </a>
          ) : (
            <code>{String(c.uri ?? "")}</code>
          )}
        </div>
      );
    }
    default:
      return <Json value={c} />;
  }
}

export function ToolResult({ result, latencyMs }: { result: ToolResultView; latencyMs?: number }) {
  return (
    <div className="space-y-3" data-testid="tool-result">
      <div className="flex items-center gap-2 text-sm">
        {result.isError ? <Badge tone="red">tool error</Badge> : <Badge tone="green">ok</Badge>}
        {latencyMs !== undefined && (
          <span className="text-zinc-500" data-testid="tool-latency">
            {latencyMs} ms
          </span>
        )}
      </div>
      {(result.content ?? []).map((c, i) => (
        <Block key={i} c={c} />
      ))}
      {result.structuredContent !== undefined && (
        <div>
          <div className="mb-1 text-xs font-medium uppercase text-zinc-500">Structured content</div>
          <Json value={result.structuredContent} />
        </div>
      )}
    </div>
  );
}
