// Tools that require task-based execution run as tasks inside the engine's pooled call path: the caller gets
// the final result as from a plain call; cancelling or timing out cancels the task; a task that asks for
// input fails clearly. Real servers: server-everything (its simulate-research-query requires tasks) and a
// v1-SDK fixture with task tools, on PGlite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { callTool, closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { startEverything, type Everything } from "./fixtures/everything";
import { listen, webHandler, type Listener } from "./fixtures/http";
import { startTaskServer, type TaskFixture } from "./fixtures/task-server";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

let n = 0;
async function makeIntegration(url: string) {
  const db = await getDb();
  const user = await db.user.create({ data: { email: `tasks-${++n}-${Date.now()}@example.com` } });
  const row = await db.integration.create({
    data: { userId: user.id, name: `tasks-${n}`, url, authKind: "none" },
  });
  await syncIntegration(user.id, row.id);
  return { userId: user.id, integrationId: row.id };
}

/** The tool and task requests the fixture received since `from` (session set-up left out). */
const callsSince = (from: number) =>
  fixture
    .rpcMethods()
    .slice(from)
    .filter((m) => m.startsWith("tools/call") || m.startsWith("tasks/"));

const textOf = (r: { content: unknown[] }) =>
  (r.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join("\n");

let fixture: TaskFixture;
let everything: Everything;
let everythingUrl: string;
/** A recording pass-through in front of server-everything, to see what reaches it. */
let relay: Listener;

function startRelay(target: string): Promise<Listener> {
  return listen(
    webHandler(async (req) => {
      const headers = new Headers(req.headers);
      for (const h of ["host", "content-length", "connection", "transfer-encoding"]) headers.delete(h);
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const res = await fetch(new URL(new URL(req.url).pathname, target), {
        method: req.method,
        headers,
        body: hasBody ? await req.arrayBuffer() : undefined,
        signal: req.signal,
      });
      const out = new Headers(res.headers);
      out.delete("content-encoding");
      out.delete("content-length");
      return new Response(res.body, { status: res.status, headers: out });
    }),
    { name: "relay" },
  );
}
const relayed = (from: number) =>
  relay.requests.slice(from).flatMap((r) => (r.rpcMethod ? [r.rpcMethod] : []));

beforeAll(async () => {
  fixture = await startTaskServer();
  everything = await startEverything();
  everythingUrl = everything.url;
  relay = await startRelay(everythingUrl);
});
afterAll(async () => {
  await closeAll();
  await fixture?.close();
  await relay?.close();
  everything?.close();
});

describe("server-everything", () => {
  it("simulate-research-query (taskSupport required) returns its report through the engine", async () => {
    const ctx = await makeIntegration(everythingUrl);
    const out = await callTool(ctx, "simulate-research-query", { topic: "otters" });
    expect(out.result.isError).toBeFalsy();
    expect(textOf(out.result)).toContain("# Research Report: otters");
    // A plain tool on the same pooled session still runs as a plain call.
    const echo = await callTool(ctx, "echo", { message: "hi" });
    expect(textOf(echo.result)).toContain("hi");
  });

  it("cancelling the call cancels the running task at the server", async () => {
    const ctx = await makeIntegration(`${relay.origin}/mcp`);
    const before = relay.requests.length;
    const ac = new AbortController();
    const call = callTool(ctx, "simulate-research-query", { topic: "moles" }, { signal: ac.signal });
    await waitFor(() => relayed(before).includes("tasks/get"), { what: "the task being polled" });
    ac.abort();
    await expectAppError(call, "cancelled");
    await waitFor(() => relayed(before).includes("tasks/cancel"), {
      what: "tasks/cancel at server-everything",
    });
    expect(relayed(before)).not.toContain("tasks/result");
  });
});

describe("task fixture", () => {
  it("a required tool runs as a task: tools/call with a task, tasks/get until done, tasks/result", async () => {
    const ctx = await makeIntegration(fixture.url);
    const before = fixture.rpcMethods().length;
    const out = await callTool(ctx, "research", { topic: "tides" });
    expect(textOf(out.result)).toBe("Report on tides");
    const sent = callsSince(before);
    expect(sent[0]).toBe("tools/call");
    expect(sent).toContain("tasks/get");
    expect(sent.at(-1)).toBe("tasks/result");
  });

  it("an optional tool runs as a plain call", async () => {
    const ctx = await makeIntegration(fixture.url);
    const before = fixture.rpcMethods().length;
    const out = await callTool(ctx, "summarize", { text: "long text" });
    expect(textOf(out.result)).toBe("Summary: long text");
    expect(callsSince(before)).toEqual(["tools/call"]);
  });

  it("cancel sends tasks/cancel for the running task", async () => {
    const ctx = await makeIntegration(fixture.url);
    const before = fixture.rpcMethods().length;
    const ac = new AbortController();
    const call = callTool(ctx, "forever", {}, { signal: ac.signal });
    // Once the task exists and is being polled, cancel.
    await waitFor(() => fixture.rpcMethods().slice(before).includes("tasks/get"), { what: "a tasks/get" });
    ac.abort();
    await expectAppError(call, "cancelled");
    await waitFor(() => fixture.rpcMethods().slice(before).includes("tasks/cancel"), {
      what: "tasks/cancel at the server",
    });
  });

  it("the call's timeout applies to the whole task, which is then cancelled", async () => {
    const ctx = await makeIntegration(fixture.url);
    const before = fixture.rpcMethods().length;
    await expectAppError(callTool(ctx, "forever", {}, { timeoutMs: 400 }), "timeout", /did not finish/);
    await waitFor(() => fixture.rpcMethods().slice(before).includes("tasks/cancel"), {
      what: "tasks/cancel at the server",
    });
  });

  it("a task that asks for input fails clearly and is cancelled", async () => {
    const ctx = await makeIntegration(fixture.url);
    const before = fixture.rpcMethods().length;
    await expectAppError(
      callTool(ctx, "clarify", {}),
      "input_required",
      /Which topic do you mean\?.*can't provide/,
    );
    await waitFor(() => fixture.rpcMethods().slice(before).includes("tasks/cancel"), {
      what: "tasks/cancel at the server",
    });
  });

  it("a failed task answers with its error result", async () => {
    const ctx = await makeIntegration(fixture.url);
    const out = await callTool(ctx, "broken", {});
    expect(out.result.isError).toBe(true);
    expect(textOf(out.result)).toContain("the research backend is down");
  });
});
