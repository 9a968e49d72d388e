// SEP-2322 request state (2026-07-28) against a real SDK server on loopback (docs/protocol.md): a call
// answered with input_required and a requestState is retried on a new JSON-RPC id carrying exactly that
// state; parallel calls each carry only their own state; a call that was given none sends none; a result
// without `resultType` is a complete result.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { callTool, closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { STATE_TOOLS, startProtocolServer, type ProtocolFixture } from "./fixtures/protocol-servers";

let srv: ProtocolFixture;
let userId: string;
let integrationId: string;

beforeAll(async () => {
  srv = await startProtocolServer({ tools: STATE_TOOLS });
  const db = await getDb();
  const user = await db.user.create({ data: { email: `sep2322-${Date.now()}@example.com` } });
  userId = user.id;
  const row = await db.integration.create({
    data: { userId, name: "State", url: srv.url, authKind: "none" },
  });
  integrationId = row.id;
  await syncIntegration(userId, integrationId);
});

afterAll(async () => {
  await closeAll();
  await srv?.close();
});

const text = (r: { content?: unknown[] }) => (r.content?.[0] as { text?: string } | undefined)?.text;
const ctx = () => ({ userId, integrationId });

describe("SEP-2322 request state", () => {
  it("echoes the state byte for byte on a new request id, and completes", async () => {
    const out = await callTool(ctx(), "stateful", { tag: "one" });
    const issued = srv.statesIssued.get("one")!;
    expect(text(out.result)).toBe(`state ${issued}`);
    const rounds = srv.calls.filter((c) => c.name === "stateful" && c.arguments.tag === "one");
    expect(rounds.map((r) => r.requestState)).toEqual([undefined, issued]);
    expect(rounds[1]!.id).not.toEqual(rounds[0]!.id);
  });

  it("parallel calls each carry their own state, and a call given none sends none", async () => {
    const tags = ["a", "b", "c", "d", "e"];
    const outs = await Promise.all([
      ...tags.map((tag) => callTool(ctx(), "stateful", { tag })),
      callTool(ctx(), "plain", {}),
      callTool(ctx(), "plain", {}),
    ]);
    tags.forEach((tag, i) => expect(text(outs[i]!.result)).toBe(`state ${srv.statesIssued.get(tag)}`));
    for (const tag of tags) {
      const rounds = srv.calls.filter((c) => c.name === "stateful" && c.arguments.tag === tag);
      expect(rounds.map((r) => r.requestState)).toEqual([undefined, srv.statesIssued.get(tag)]);
    }
    const plain = srv.calls.filter((c) => c.name === "plain");
    expect(plain).toHaveLength(2);
    for (const p of plain) expect(p.requestState).toBeUndefined();
  });

  it("a result without resultType is complete", async () => {
    const out = await callTool(ctx(), "no_result_type", {});
    expect(text(out.result)).toBe("called no_result_type");
    expect(out.result.isError).toBeFalsy();
    expect(srv.calls.filter((c) => c.name === "no_result_type")).toHaveLength(1);
  });
});
