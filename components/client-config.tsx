"use client";
// Ready-to-paste client configuration for one toolset endpoint. The token is a placeholder: tokens are shown
// once, when created in Settings.
import { useState } from "react";
import { CopyButton } from "@/components/copy-button";

const TOKEN = "poke_…";
const PROTOCOL = "2026-07-28";

/** The snippets, by client. */
function snippets(url: string, name?: string): { id: string; label: string; file: string; text: string }[] {
  const key = name ? `poke-${name}` : "poke";
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  const listTools = {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/list",
    params: {
      _meta: {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientInfo": { name: "curl", version: "1.0.0" },
        "io.modelcontextprotocol/clientCapabilities": {},
      },
    },
  };
  return [
    {
      id: "claude",
      label: "Claude Desktop",
      file: "claude_desktop_config.json — through poke proxy (stdio ⇄ HTTP) from a checkout of Poke",
      text: json({
        mcpServers: {
          [key]: {
            command: "npx",
            args: ["--prefix", "/path/to/poke-checkout", "poke", "proxy", url],
            env: { API_ACCESS_TOKEN: TOKEN },
          },
        },
      }),
    },
    {
      id: "mcp-proxy",
      label: "Claude Desktop (mcp-proxy)",
      file: "claude_desktop_config.json — through mcp-proxy, installed with the poke CLI package (poke-cli)",
      text: json({
        mcpServers: { [key]: { command: "mcp-proxy", args: [url], env: { API_ACCESS_TOKEN: TOKEN } } },
      }),
    },
    {
      id: "cursor",
      label: "Cursor",
      file: "~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
      text: json({ mcpServers: { [key]: { url, headers: { Authorization: `Bearer ${TOKEN}` } } } }),
    },
    {
      id: "vscode",
      label: "VS Code",
      file: ".vscode/mcp.json — asks for the token once and keeps it in VS Code's secret storage",
      text: json({
        inputs: [{ type: "promptString", id: "poke-token", description: "Poke API token", password: true }],
        servers: {
          [key]: { type: "http", url, headers: { Authorization: "Bearer ${input:poke-token}" } },
        },
      }),
    },
    {
      id: "curl",
      label: "curl",
      file: "List the tools with one request",
      text: [
        `curl -sS '${url}' \\`,
        `  -H "Authorization: Bearer $POKE_TOKEN" \\`,
        `  -H 'Content-Type: application/json' \\`,
        `  -H 'Accept: application/json, text/event-stream' \\`,
        `  -H 'MCP-Protocol-Version: ${PROTOCOL}' \\`,
        `  -H 'Mcp-Method: tools/list' \\`,
        `  -d '${JSON.stringify(listTools)}'`,
      ].join("\n"),
    },
  ];
}

export function ClientConfig({
  url,
  name,
}: {
  url: string;
  /** The toolset's name, if the endpoint is one. */ name?: string;
}) {
  const all = snippets(url, name);
  const [current, setCurrent] = useState(all[0].id);
  const shown = all.find((s) => s.id === current) ?? all[0];
  return (
    <div className="min-w-0 space-y-3">
      <div role="tablist" aria-label="Client" className="flex flex-wrap gap-1">
        {all.map((s) => (
          <button
            key={s.id}
            type="button"
            role="tab"
            aria-selected={s.id === current}
            onClick={() => setCurrent(s.id)}
            className={`rounded-md px-2 py-1 text-sm ${
              s.id === current ? "bg-zinc-900 text-white" : "text-zinc-700 hover:bg-zinc-100"
            }`}
          >
            {s.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" aria-label={shown.label} className="min-w-0 space-y-2">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <span className="min-w-0 break-words text-xs text-zinc-500">{shown.file}</span>
          <CopyButton key={shown.id} text={shown.text} />
        </div>
        <pre
          data-testid="client-config"
          tabIndex={0}
          className="max-h-80 overflow-auto rounded bg-zinc-900 p-3 text-xs text-zinc-100"
        >
          {shown.text}
        </pre>
        <p className="text-xs text-zinc-500">
          Replace <code>{TOKEN}</code> (or <code>$POKE_TOKEN</code>) with an API token from Settings
          {name ? ", ideally one scoped to this toolset" : ""}.
        </p>
      </div>
    </div>
  );
}
