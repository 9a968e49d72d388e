// SEP-2243 (2026-07-28) custom headers against a real SDK server on loopback (docs/protocol.md): the sync
// lists tools through the SDK and leaves out each tool whose `x-mcp-header` declarations are invalid,
// naming it and why on the integration; calls through the session pool send the declared parameters as
// `Mcp-Param-*` headers (Base64 where a value is not safe as a header), checked on what the server got.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { xMcpHeaderProblem } from "@/lib/mcp/discover";
import { callTool, closeAll, dropSession } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { waitFor } from "./wait";
import {
  HEADER_TOOLS,
  INVALID_HEADER_TOOLS,
  startProtocolServer,
  type ProtocolFixture,
} from "./fixtures/protocol-servers";

let srv: ProtocolFixture;
let userId: string;
let integrationId: string;

beforeAll(async () => {
  srv = await startProtocolServer();
  const db = await getDb();
  const user = await db.user.create({ data: { email: `sep2243-${Date.now()}@example.com` } });
  userId = user.id;
  const row = await db.integration.create({
    data: { userId, name: "Headers", url: srv.url, authKind: "none" },
  });
  integrationId = row.id;
  await syncIntegration(userId, integrationId);
});

afterAll(async () => {
  await closeAll();
  await srv?.close();
});

const decode = (v: string) => {
  const m = /^=\?base64\?(.*)\?=$/.exec(v);
  return m ? Buffer.from(m[1]!, "base64").toString("utf8") : undefined;
};

async function call(name: string, args: Record<string, unknown>) {
  const before = srv.calls.length;
  const out = await callTool({ userId, integrationId }, name, args);
  const received = srv.calls.slice(before).filter((c) => c.name === name);
  expect(received).toHaveLength(1);
  return { out, headers: received[0]!.paramHeaders };
}

describe("SEP-2243 custom headers", () => {
  it("leaves out every tool with invalid declarations and says why on the integration", async () => {
    const db = await getDb();
    const tools = await db.tool.findMany({ where: { integrationId }, select: { name: true } });
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(["headers", "no_result_type", "plain", "stateful"]);
    const integ = await db.integration.findUniqueOrThrow({ where: { id: integrationId } });
    expect(integ.status).toBe("connected");
    const notice = integ.syncNotice ?? "";
    expect(notice).toContain(
      `Left out ${INVALID_HEADER_TOOLS.length} tools whose definitions MCP clients must not use`,
    );
    // The notice names five; every reason is checked on its own below.
    for (const { tool, reason } of INVALID_HEADER_TOOLS.slice(0, 5)) {
      expect(notice).toContain(`"${tool.name}" (`);
      expect(notice).toContain(reason);
    }
    for (const { tool, reason } of INVALID_HEADER_TOOLS) {
      expect(xMcpHeaderProblem(tool.inputSchema as never), tool.name).toContain(reason);
    }
    expect(xMcpHeaderProblem(HEADER_TOOLS[0]!.inputSchema as never)).toBeUndefined();
  });

  it("sends declared parameters as Mcp-Param-* headers on a pooled session that never listed tools", async () => {
    await dropSession(userId, integrationId); // the call opens a fresh session
    const { out, headers } = await call("headers", {
      region: "eu-west-1",
      priority: 3,
      verbose: false,
      scope: { tenant: "acme" },
      score: 1.5,
      query: "q",
    });
    expect(out.result.isError).toBeFalsy();
    expect(headers).toEqual({
      "mcp-param-region": "eu-west-1",
      "mcp-param-priority": "3",
      "mcp-param-verbose": "false",
      "mcp-param-tenant": "acme",
    });
  });

  it("Base64-encodes values that are not safe as a header, and omits absent ones", async () => {
    for (const value of ["Zürich", " padded ", "line\r\nbreak", "\tlead", "=?base64?abc?="]) {
      const { headers } = await call("headers", { region: value, query: "q" });
      expect(Object.keys(headers)).toEqual(["mcp-param-region"]);
      expect(decode(headers["mcp-param-region"]!), JSON.stringify(value)).toBe(value);
    }
    const { headers } = await call("headers", { region: "plain text with spaces", query: "q" });
    expect(headers).toEqual({ "mcp-param-region": "plain text with spaces" });
  });

  it("a tool left out can't be called, and the next sync keeps it out", async () => {
    await expect(callTool({ userId, integrationId }, "bad_number", { v: 1 })).rejects.toMatchObject({
      code: "not_found",
    });
    expect(srv.calls.some((c) => c.name.startsWith("bad_"))).toBe(false);
    expect(await syncIntegration(userId, integrationId)).toMatchObject({ added: [], removed: [] });
  });

  it("a server that fixes a tool's declaration gets it added on the next sync", async () => {
    const fixed = {
      name: "bad_number",
      inputSchema: {
        type: "object" as const,
        properties: { v: { type: "integer", "x-mcp-header": "Score" } },
      },
    };
    srv.setTools([...HEADER_TOOLS, fixed]);
    const diff = await syncIntegration(userId, integrationId);
    expect(diff.added).toEqual(["bad_number"]);
    const db = await getDb();
    const integ = await db.integration.findUniqueOrThrow({ where: { id: integrationId } });
    expect(integ.syncNotice).toBeNull();
    const { headers } = await call("bad_number", { v: 7 });
    expect(headers).toEqual({ "mcp-param-score": "7" });
  });

  it("a call whose stored declarations are stale is refused by the server unexecuted; a re-sync follows", async () => {
    // The server renames a header without telling (no list_changed): the stored definition is stale.
    const renamed = {
      name: "headers",
      inputSchema: {
        type: "object" as const,
        properties: { region: { type: "string", "x-mcp-header": "Zone" }, query: { type: "string" } },
      },
    };
    srv.setTools([renamed]);
    const before = srv.calls.length;
    const err = await callTool({ userId, integrationId }, "headers", { region: "eu", query: "q" }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "tool_changed", status: 409 });
    expect(srv.calls.length).toBe(before); // never reached the tool
    const db = await getDb();
    await waitFor(async () => {
      const t = await db.tool.findFirst({ where: { integrationId, name: "headers" } });
      return JSON.stringify(t?.inputSchema ?? "").includes("Zone");
    });
    const { headers } = await call("headers", { region: "eu", query: "q" });
    expect(headers).toEqual({ "mcp-param-zone": "eu" });
  });
});
