// SEP-2243 on the agent endpoint (docs/protocol.md): a 2026-07-28 tools/call of a tool whose schema declares
// `x-mcp-header` parameters is refused with HTTP 400 / -32020 when its `Mcp-Param-*` headers are missing,
// malformed or disagree with the arguments; an SDK client, which sends them, is served.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { closeAll } from "@/lib/mcp/pool";
import { HEADER_TOOLS, startProtocolServer, type ProtocolFixture } from "./fixtures/protocol-servers";
import {
  addIntegration,
  connectAgent,
  ENDPOINT,
  inProcessFetch,
  makeUserWithToken,
  textOf,
} from "./agent-helpers";

let fixture: ProtocolFixture;
let token: string;

beforeAll(async () => {
  fixture = await startProtocolServer({ tools: HEADER_TOOLS });
  const u = await makeUserWithToken("param-headers");
  token = u.token;
  await addIntegration(u.user.id, "Fixture", fixture.url);
});

afterAll(async () => {
  await closeAgentEndpoint();
  await closeAll();
  await fixture?.close();
});

/** A raw 2026-07-28 tools/call of fixture__headers with the given Mcp-Param-* headers. */
function rawCall(args: Record<string, unknown>, paramHeaders: Record<string, string>) {
  return inProcessFetch(ENDPOINT, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": "fixture__headers",
      ...paramHeaders,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: {
        name: "fixture__headers",
        arguments: args,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    }),
  });
}

describe("Mcp-Param headers on /api/mcp", () => {
  it("refuses a call whose header is missing, not Base64 or disagrees, with 400 and -32020", async () => {
    const cases: Record<string, string>[] = [
      {},
      { "mcp-param-region": "=?base64?not base64?=" },
      { "mcp-param-region": "us-east1" },
    ];
    for (const headers of cases) {
      const res = await rawCall({ region: "eu-west1", query: "q" }, headers);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { id: unknown; error: { code: number } };
      expect(body.error.code).toBe(-32020);
      expect(body.id).toBe(7);
    }
    expect(fixture.calls).toHaveLength(0);
  });

  it("serves a call whose headers agree (plain and Base64), and one whose annotated value is omitted", async () => {
    const agree = await rawCall(
      { region: "eu-west1", priority: 3, query: "q" },
      { "mcp-param-region": "=?base64?ZXUtd2VzdDE=?=", "mcp-param-priority": "3" },
    );
    expect(agree.status).toBe(200);
    const omitted = await rawCall({ query: "q" }, {});
    expect(omitted.status).toBe(200);
  });

  it("lets an SDK client call the tool: it sends the headers itself", async () => {
    const agent = await connectAgent(token, { era: "auto" });
    try {
      const out = await agent.client.callTool({
        name: "fixture__headers",
        arguments: { region: "Zürich ", priority: 2, verbose: true, scope: { tenant: "t1" }, query: "q" },
      });
      expect(out.isError).toBeFalsy();
      expect(textOf(out)).toBeTruthy();
    } finally {
      await agent.close();
    }
  });
});
