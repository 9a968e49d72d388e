"use client";
// A server's instructions, as markdown. The text is the server's, so it is data: no raw HTML, links only
// to http(s) pages (opened without an opener or referrer), no images, and a few lines until asked for all.
import { useLayoutEffect, useRef, useState } from "react";
import Markdown, { type Components } from "react-markdown";

const ALLOWED = [
  "p",
  "br",
  "strong",
  "em",
  "del",
  "code",
  "pre",
  "blockquote",
  "ul",
  "ol",
  "li",
  "a",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "hr",
];

/** Only absolute http(s) links survive; anything else (javascript:, data:, relative) becomes no link. */
export function safeHref(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

const components: Components = {
  a: ({ href, children }) =>
    href ? (
      <a href={href} target="_blank" rel="noopener noreferrer" className="text-sky-700 underline">
        {children}
      </a>
    ) : (
      <span>{children}</span>
    ),
  h1: ({ children }) => <h3 className="mt-3 text-base font-semibold">{children}</h3>,
  h2: ({ children }) => <h3 className="mt-3 text-base font-semibold">{children}</h3>,
  h3: ({ children }) => <h4 className="mt-3 text-sm font-semibold">{children}</h4>,
  h4: ({ children }) => <h4 className="mt-3 text-sm font-semibold">{children}</h4>,
  h5: ({ children }) => <h4 className="mt-3 text-sm font-semibold">{children}</h4>,
  h6: ({ children }) => <h4 className="mt-3 text-sm font-semibold">{children}</h4>,
  ul: ({ children }) => <ul className="my-2 list-disc pl-5">{children}</ul>,
  ol: ({ children }) => <ol className="my-2 list-decimal pl-5">{children}</ol>,
  p: ({ children }) => <p className="my-2 first:mt-0 last:mb-0">{children}</p>,
  pre: ({ children }) => (
    <pre className="my-2 overflow-x-auto rounded bg-zinc-50 p-2 text-xs">{children}</pre>
  ),
  code: ({ children }) => <code className="rounded bg-zinc-100 px-1 font-mono text-xs">{children}</code>,
  blockquote: ({ children }) => (
    <blockquote className="my-2 border-l-2 border-zinc-200 pl-3 text-zinc-600">{children}</blockquote>
  ),
};

export function ServerInstructions({ text }: { text: string }) {
  const body = useRef<HTMLDivElement>(null);
  const [expanded, setExpanded] = useState(false);
  const [overflows, setOverflows] = useState(false);
  useLayoutEffect(() => {
    const el = body.current;
    if (el && !expanded) setOverflows(el.scrollHeight > el.clientHeight + 1);
  }, [text, expanded]);
  return (
    <div>
      <div
        ref={body}
        id="server-instructions-body"
        data-testid="server-instructions"
        className={`min-w-0 break-words text-sm ${expanded ? "" : "max-h-28 overflow-hidden"}`}
      >
        <Markdown
          allowedElements={ALLOWED}
          unwrapDisallowed
          skipHtml
          urlTransform={(url) => safeHref(url)}
          components={components}
        >
          {text}
        </Markdown>
      </div>
      {(overflows || expanded) && (
        <button
          type="button"
          aria-expanded={expanded}
          aria-controls="server-instructions-body"
          onClick={() => setExpanded(!expanded)}
          className="mt-2 text-sm font-medium text-zinc-700 underline hover:text-zinc-900"
        >
          {expanded ? "Show less" : "Show all"}
        </button>
      )}
    </div>
  );
}
