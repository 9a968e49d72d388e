// A tool's inputSchema reaches agents exactly as its server declared it: every keyword (2020-12 vocabulary,
// network $refs, unknown keywords) and the key order, through the sync, the database and /api/mcp tools/list.
// The engine still checks arguments against the schema before a call leaves Poke.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { closeAll } from "@/lib/mcp/pool";
import { startCatalogServer, type CatalogFixture } from "./fixtures/mcp-servers";
import { addIntegration, connectAgent, inProcessFetch, makeUserWithToken, textOf } from "./agent-helpers";

// Keys deliberately out of the usual order ("properties" before "type", "$schema" last, "z" before "a").
const declared = {
  properties: {
    zeta: { $ref: "#/$defs/id", description: "last letter first" },
    alpha: { type: ["string", "null"], "x-vendor": { keep: true } },
    profile: { $ref: "https://schemas.example.com/profile.json" },
    pair: { type: "array", prefixItems: [{ type: "string" }, { type: "integer" }], items: false },
  },
  type: "object",
  required: ["zeta"],
  $defs: { id: { pattern: "^[a-z]+$", type: "string", $anchor: "idDef" } },
  if: { required: ["alpha"] },
  then: { required: ["pair"] },
  unevaluatedProperties: false,
  $schema: "https://json-schema.org/draft/2020-12/schema",
};

let server: CatalogFixture;
let token: string;

beforeAll(async () => {
  server = await startCatalogServer({ name: "schemas" });
  server.setTools([
    { name: "keep", description: "Schema kept as declared.", inputSchema: declared as never },
  ]);
  const u = await makeUserWithToken("schema");
  token = u.token;
  await addIntegration(u.user.id, "Schemas", server.url);
});

afterAll(async () => {
  await closeAgentEndpoint();
  await closeAll();
  await server?.close();
});

describe("inputSchema preservation", () => {
  it("tools/list on /api/mcp carries the schema byte for byte in the declared key order", async () => {
    const agent = await connectAgent(token, { era: "auto" });
    try {
      // The SDK client re-parses the list; the wire text is what an agent of any make receives.
      const res = await inProcessFetch("http://localhost:3999/api/mcp", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          authorization: `Bearer ${token}`,
          "mcp-protocol-version": "2026-07-28",
          "mcp-method": "tools/list",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/list",
          params: {
            _meta: {
              "io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
              "io.modelcontextprotocol/clientCapabilities": {},
            },
          },
        }),
      });
      const text = await res.text();
      expect(res.status, text.slice(0, 500)).toBe(200);
      expect(text).toContain(JSON.stringify(declared));

      const { tools } = await agent.client.listTools();
      const tool = tools.find((t) => t.name.endsWith("keep"));
      expect(tool?.inputSchema).toEqual(declared);

      // The engine checks what it can (the local $ref, the tuple) and leaves the network $ref to the server.
      const bad = await agent.client.callTool({ name: tool!.name, arguments: { zeta: "ABC" } });
      expect(bad.isError).toBe(true);
      expect(textOf(bad)).toContain('zeta must match the pattern "^[a-z]+$"');
      const ok = await agent.client.callTool({
        name: tool!.name,
        arguments: { zeta: "abc", alpha: null, pair: ["x", 1], profile: { any: "thing" } },
      });
      expect(ok.isError ?? false, textOf(ok)).toBe(false);
      expect(server.calls.map((c) => c.arguments)).toEqual([
        { zeta: "abc", alpha: null, pair: ["x", 1], profile: { any: "thing" } },
      ]);
    } finally {
      await agent.close();
    }
  });
});
