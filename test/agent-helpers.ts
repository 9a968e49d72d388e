// Shared by the agent endpoint and limits tests: users with tokens, integrations on fixture servers, and
// SDK clients pointed at the in-process /api/mcp handler.
import { Client, StreamableHTTPClientTransport, type Tool } from "@modelcontextprotocol/client";
import { handleAgentRequest } from "@/lib/agent/endpoint";
import { createApiToken } from "@/lib/data/api-tokens";
import { signUp, type SessionUser } from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { syncIntegration } from "@/lib/mcp/sync";

export const ENDPOINT = "http://localhost:3999/api/mcp";
let n = 0;

export async function makeUserWithToken(tag = "agent"): Promise<{ user: SessionUser; token: string }> {
  const user = await signUp({
    email: `${tag}-${++n}-${Date.now()}@example.com`,
    password: "correct horse battery staple",
    name: "",
  });
  const { token } = await createApiToken(user, { name: "agent", expiresInDays: undefined });
  return { user, token };
}

export async function addIntegration(userId: string, name: string, url: string): Promise<string> {
  const db = await getDb();
  const row = await db.integration.create({ data: { userId, name, url, authKind: "none" } });
  await syncIntegration(userId, row.id);
  return row.id;
}

/** Calls the route handler directly: no HTTP server, exactly what Next.js would run. */
export const inProcessFetch = (input: string | URL | Request, init?: RequestInit) =>
  handleAgentRequest(new Request(input, init));

export type AgentClient = {
  client: Client;
  transport: StreamableHTTPClientTransport;
  close(): Promise<void>;
};

export async function connectAgent(
  token: string,
  opts: { era: "auto" | "legacy"; onToolsChanged?: (tools: Tool[]) => void },
): Promise<AgentClient> {
  const client = new Client(
    { name: "test-agent", version: "1.0.0" },
    {
      ...(opts.era === "auto" ? { versionNegotiation: { mode: "auto" as const } } : {}),
      ...(opts.onToolsChanged
        ? {
            listChanged: {
              tools: {
                debounceMs: 20,
                onChanged: (_err: Error | null, tools: Tool[] | null) => opts.onToolsChanged!(tools ?? []),
              },
            },
          }
        : {}),
    },
  );
  const transport = new StreamableHTTPClientTransport(new URL(ENDPOINT), {
    fetch: inProcessFetch,
    authProvider: { token: async () => token },
  });
  await client.connect(transport);
  return {
    client,
    transport,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

export const textOf = (result: unknown) =>
  ((result as { content?: { type: string; text?: string }[] }).content ?? [])
    .map((c) => c.text ?? "")
    .join("\n");
