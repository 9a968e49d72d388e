// A failure is classified from the error itself: its `cause` chain, the SDK's error types and codes.
// (Concurrent calls on one pooled session: test/error-causes.test.ts.) Requests carry the user's public id,
// so the user is a real row.
import type { AddressInfo } from "node:net";
import http from "node:http";
import { ProtocolError, SdkError, SdkErrorCode } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { AppError } from "@/lib/errors";
import { connectMcp } from "@/lib/mcp/connect";
import { classifyMcpError } from "@/lib/mcp/errors";
import { OVERSIZED_RPC_CODE } from "@/lib/net/egress";
import { startSseServer, type SseFixture } from "./fixtures/mcp-servers";

let userId = "";

beforeAll(async () => {
  const db = await getDb();
  userId = (await db.user.create({ data: { email: `error-classes-${Date.now()}@example.com` } })).id;
});

/** A port nothing listens on. */
async function refusedPort(): Promise<number> {
  const tmp = http.createServer();
  await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", r));
  const port = (tmp.address() as AddressInfo).port;
  await new Promise((r) => tmp.close(r));
  return port;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("the legacy SSE transport keeps the cause of a failed stream open", () => {
  let sse: SseFixture;
  beforeAll(async () => {
    sse = await startSseServer();
  });
  afterAll(() => sse.close());

  it("a refused connection is named as such, not as an unknown SSE failure", async () => {
    const url = `http://127.0.0.1:${await refusedPort()}/sse`;
    const err = await rejection(connectMcp({ url, userId, transport: "sse" }));
    expect(err).toMatchObject({ code: "connection_refused" });
    expect((err as Error).message).toMatch(/refused the connection/);
  });

  it("an error status on the stream is classified by its status", async () => {
    const url = `${sse.origin}/no-such-path`;
    const err = await rejection(connectMcp({ url, userId, transport: "sse" }));
    expect(err).toMatchObject({ code: "not_mcp" });
    expect((err as Error).message).toMatch(/HTTP 404/);
  });
});

describe("classifyMcpError", () => {
  const ctx = { url: new URL("https://mcp.example.com/mcp"), hasApiKey: false };

  it("finds the network cause the SDK keeps on its own error", () => {
    const cause = new AppError("connection_refused", "mcp.example.com refused the connection.", 502);
    const wrapped = new SdkError(SdkErrorCode.EraNegotiationFailed, "probe failed", undefined, { cause });
    expect(classifyMcpError(wrapped, ctx)).toBe(cause);
  });

  it("tells the response-size cap apart from a server's own -32001 error", () => {
    const text = "The server's response exceeded the 8 MiB limit.";
    const ours = new ProtocolError(OVERSIZED_RPC_CODE, text, { reason: "response_too_large" });
    expect(classifyMcpError(ours, ctx).code).toBe("too_large");
    const theirs = new ProtocolError(OVERSIZED_RPC_CODE, text);
    expect(classifyMcpError(theirs, ctx)).toMatchObject({
      code: "protocol_error",
      details: { rpcCode: -32001 },
    });
  });

  it("names unparseable and off-schema answers as not MCP, by their types", () => {
    expect(classifyMcpError(new SyntaxError("Unexpected token <"), ctx).code).toBe("not_mcp");
    const content = new SdkError(SdkErrorCode.ClientHttpUnexpectedContent, "Unexpected content type", {
      contentType: "text/html; charset=utf-8",
    });
    expect(classifyMcpError(content, ctx).message).toMatch(/answered with an HTML page, not MCP/);
    // Text that only looks like a parse failure is quoted, not reinterpreted.
    expect(classifyMcpError(new Error("could not parse JSON"), ctx).code).toBe("protocol_error");
  });
});
