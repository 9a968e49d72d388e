// Deeply nested JSON from a hostile server (docs/security.md §14, §17): a tool result nested 100 000 levels
// deep fails that one call with a clear message on every path — the REST API, the agent endpoint (/api/mcp)
// and the playground's server action — while the session, the server's other tools and other users keep
// working; a result at the limit (64 levels) passes unchanged. Real fixture server, real database.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { POST as callRoute } from "@/app/api/v1/integrations/[id]/tools/[name]/call/route";
import { callToolAction } from "@/app/(app)/integrations/actions";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { readCalls } from "@/lib/data/history";
import { getIntegration, listTools } from "@/lib/data/integrations";
import type { SessionUser } from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { MAX_JSON_DEPTH } from "@/lib/limits/json-shape";
import { closeAll } from "@/lib/mcp/pool";
import { startHostileServer, type HostileFixture } from "./fixtures/mcp-servers";
import {
  addIntegration,
  connectAgent,
  ENDPOINT,
  inProcessFetch,
  makeUserWithToken,
  textOf,
  type AgentClient,
} from "./agent-helpers";

// The playground's server action reads the session through currentUser(); the test says who is signed in.
const session = vi.hoisted(() => ({ user: null as SessionUser | null }));
vi.mock("@/lib/auth/session", () => ({ currentUser: async () => session.user }));
vi.mock("next/cache", () => ({ revalidatePath: () => {} }));

/** What the fixture's "nested" tool answers as structuredContent for `levels`. */
function nested(levels: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < levels; i++) v = { v };
  return v;
}
// The result object is one level above its structuredContent: this many levels make a result exactly at the limit.
const AT_LIMIT = MAX_JSON_DEPTH - 1;
const TOO_DEEP = /nested more than 64 levels deep/;

let deep: HostileFixture;
let owner: { user: SessionUser; token: string; id: string };
let other: { user: SessionUser; token: string; id: string };
const clients: AgentClient[] = [];

beforeAll(async () => {
  deep = await startHostileServer("deep-nesting");
  const a = await makeUserWithToken("deep");
  owner = { ...a, id: await addIntegration(a.user.id, "Deep", deep.url) };
  const b = await makeUserWithToken("deep-other");
  other = { ...b, id: await addIntegration(b.user.id, "Deep", deep.url) };
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await closeAgentEndpoint();
  await closeAll();
  await deep?.close();
});

const rest = (who: { token: string; id: string }, tool: string, args: Record<string, unknown>) =>
  callRoute(
    new Request(`http://localhost:3999/api/v1/integrations/${who.id}/tools/${tool}/call`, {
      method: "POST",
      headers: { authorization: `Bearer ${who.token}`, "content-type": "application/json" },
      body: JSON.stringify({ arguments: args }),
    }),
    { params: Promise.resolve({ id: who.id, name: tool }) },
  );

describe("sync", () => {
  it("leaves out a tool whose definition is nested too deep, with a notice; the other tools are stored", async () => {
    const integ = await getIntegration(owner.user, owner.id);
    expect(integ.status).toBe("connected");
    expect((await listTools(owner.user, owner.id)).map((t) => t.name)).toEqual(["echo", "nested"]);
    expect(integ.syncNotice).toContain('"deep_schema" (its definition is nested more than 64 levels deep)');
  });
});

describe("REST API", () => {
  it("answers a 100 000-level result with 502 too_deep; the next calls work", async () => {
    const res = await rest(owner, "nested", {});
    expect(res.status).toBe(502);
    const body = await res.json();
    expect(body.error.code).toBe("too_deep");
    expect(body.error.message).toMatch(TOO_DEEP);
    expect(body.error.message).toContain('"nested"');

    const echo = await rest(owner, "echo", { text: "still here" });
    expect(echo.status).toBe(200);
    expect(textOf((await echo.json()).result)).toContain("still here");
    const otherEcho = await rest(other, "echo", { text: "unaffected" });
    expect(otherEcho.status).toBe(200);
  });

  it("passes a result at the limit unchanged, and refuses one level more", async () => {
    const ok = await rest(owner, "nested", { levels: AT_LIMIT });
    expect(ok.status).toBe(200);
    expect((await ok.json()).result.structuredContent).toEqual(nested(AT_LIMIT));
    const over = await rest(owner, "nested", { levels: AT_LIMIT + 1 });
    expect(over.status).toBe(502);
    expect((await over.json()).error.code).toBe("too_deep");
  });

  it("records the refused call in the activity log with its reason", async () => {
    const rows = await readCalls(owner.user, { integrationId: owner.id, status: "error" }, undefined, 10);
    expect(rows.some((r) => r.tool === "nested" && TOO_DEEP.test(r.error ?? ""))).toBe(true);
  });

  it("refuses arguments nested deeper than the limit before anything is sent", async () => {
    const before = deep.requests.length;
    const res = await rest(owner, "echo", { text: "x", extra: nested(1000) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe("invalid_arguments");
    expect(body.error.message).toMatch(TOO_DEEP);
    expect(deep.requests.length).toBe(before);
  });
});

describe("agent endpoint", () => {
  it("answers a 100 000-level result with an error result, not a hang; the session keeps working", async () => {
    for (const era of ["auto", "legacy"] as const) {
      const agent = await connectAgent(owner.token, { era });
      clients.push(agent);
      const refused = await agent.client.callTool({ name: "deep__nested", arguments: {} });
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(TOO_DEEP);
      expect(refused._meta?.["poke/errorCode"]).toBe("too_deep");

      const atLimit = await agent.client.callTool({ name: "deep__nested", arguments: { levels: AT_LIMIT } });
      expect(atLimit.isError).toBeFalsy();
      expect(atLimit.structuredContent).toEqual(nested(AT_LIMIT));
      const echo = await agent.client.callTool({ name: "deep__echo", arguments: { text: `ok ${era}` } });
      expect(textOf(echo)).toContain(`ok ${era}`);
    }
  });

  it("answers arguments nested 100 000 levels deep with an error result; nothing reaches the server", async () => {
    // An SDK client whose request body is rewritten on the way: JSON.stringify itself can't write this value.
    const levels = 100_000;
    const deepText = `${'{"v":'.repeat(levels)}0${"}".repeat(levels)}`;
    const client = new Client({ name: "t", version: "1" }, { versionNegotiation: { mode: "auto" } });
    const fetch = (input: string | URL | Request, init?: RequestInit) =>
      inProcessFetch(input, {
        ...init,
        body: typeof init?.body === "string" ? init.body.replace('"@deep@"', deepText) : init?.body,
      });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(ENDPOINT), {
        fetch,
        authProvider: { token: async () => owner.token },
      }),
    );
    try {
      const before = deep.requests.length;
      const refused = await client.callTool({
        name: "deep__echo",
        arguments: { text: "x", extra: "@deep@" },
      });
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(TOO_DEEP);
      expect(deep.requests.length).toBe(before);
      const echo = await client.callTool({ name: "deep__echo", arguments: { text: "next" } });
      expect(textOf(echo)).toContain("next");
    } finally {
      await client.close();
    }
  });
});

describe("playground", () => {
  it("shows the refusal as the action's error; the same server's other tools keep answering", async () => {
    session.user = owner.user;
    const refused = await callToolAction({ id: owner.id, tool: "nested", arguments: {} });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error).toMatch(TOO_DEEP);

    const atLimit = await callToolAction({ id: owner.id, tool: "nested", arguments: { levels: AT_LIMIT } });
    expect(atLimit.ok && atLimit.data.result.structuredContent).toEqual(nested(AT_LIMIT));
    const echo = await callToolAction({ id: owner.id, tool: "echo", arguments: { text: "hi" } });
    expect(echo.ok && textOf(echo.data.result)).toContain("hi");
  });

  it("stores a result at the limit in the history when payloads are kept", async () => {
    const db = await getDb();
    const id = await addIntegration(owner.user.id, "Kept", deep.url);
    await db.integration.update({ where: { id }, data: { storePayloads: true } });
    session.user = owner.user;
    const ok = await callToolAction({ id, tool: "nested", arguments: { levels: AT_LIMIT } });
    expect(ok.ok).toBe(true);
    const rows = await readCalls(owner.user, { integrationId: id, status: "ok" }, undefined, 1);
    expect(rows[0].tool).toBe("nested");
    expect(rows[0].result).not.toBeNull();
  });
});
