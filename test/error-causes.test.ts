// Errors carry their own cause: concurrent calls on one pooled session each get the classification of
// their own failure, never one another request on the same connection left behind.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { callTool, closeAll } from "@/lib/mcp/pool";
import { UNAUTHORIZED_NO_KEY_MESSAGE } from "@/lib/mcp/errors";
import { MiB } from "@/lib/net/egress";
import { syncIntegration } from "@/lib/mcp/sync";
import { listen, webHandler, type Listener } from "./fixtures/http";
import { createMcpEndpoint, type McpEndpoint } from "./fixtures/mcp-endpoint";
import { expectAppError } from "./app-error";

let endpoint: McpEndpoint;
let server: Listener;
let release!: () => void;
const released = new Promise<void>((r) => (release = r));

beforeAll(async () => {
  endpoint = createMcpEndpoint({ mode: "sessionful" });
  const mcp = webHandler((req, { json }) => endpoint.fetch(req, { parsedBody: json }));
  // A real MCP server, except for two tools/call requests: "huge" declares a body past the 8 MiB
  // message cap (egress refuses it before reading), "deny" is answered 401, but only once the test says
  // so, after "huge" has failed.
  server = await listen(async (req, res, ctx) => {
    const msg = ctx.json as { method?: string; params?: { arguments?: { text?: string } } } | undefined;
    const text = msg?.method === "tools/call" ? msg.params?.arguments?.text : undefined;
    if (text === "huge") {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(9 * MiB) });
      return void res.flushHeaders();
    }
    if (text === "deny") {
      await released;
      return void res.writeHead(401, { "content-type": "text/plain" }).end("Unauthorized");
    }
    return mcp(req, res, ctx);
  });
});
afterAll(async () => {
  await closeAll();
  await server.close();
  await endpoint.close();
});

describe("concurrent failures on one pooled session", () => {
  it("each call is classified by its own cause", async () => {
    const db = await getDb();
    const user = await db.user.create({ data: { email: `causes-${Date.now()}@example.com` } });
    const integ = await db.integration.create({
      data: { userId: user.id, name: "causes", url: `${server.origin}/mcp`, authKind: "none" },
    });
    await syncIntegration(user.id, integ.id);
    const ctx = { userId: user.id, integrationId: integ.id };

    const denied = expectAppError(callTool(ctx, "echo", { text: "deny" }), "unauthorized");
    await expectAppError(callTool(ctx, "echo", { text: "huge" }), "too_large", /8 MiB limit/);
    release(); // the 401 arrives after the other call's failure on the same session
    expect((await denied).message).toBe(UNAUTHORIZED_NO_KEY_MESSAGE);

    const ok = await callTool(ctx, "echo", { text: "still here" });
    expect(JSON.stringify(ok.result.content)).toContain("still here");
  });
});
