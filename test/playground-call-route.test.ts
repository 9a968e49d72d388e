// The playground's streamed call route (POST /api/integrations/:id/call): NDJSON progress then the outcome,
// the output-schema verdict, a refusal as an error line; a request closed mid-call makes the engine send
// notifications/cancelled; another person's integration is 404; a cross-site request is refused.
// Real fixture servers, real database.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { POST } from "@/app/api/integrations/[id]/call/route";
import type { SessionUser } from "@/lib/data/users";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, makeUserWithToken } from "./agent-helpers";

const session = vi.hoisted(() => ({ user: null as SessionUser | null }));
vi.mock("@/lib/auth/session", () => ({ currentUser: async () => session.user }));

const ORIGIN = "http://localhost:3999";
let server: McpFixture;
let owner: { user: SessionUser; id: string };
let other: { user: SessionUser; id: string };

beforeAll(async () => {
  // 2025 era (initialize + session), where a cancelled call is announced with notifications/cancelled.
  server = await startMcpServer({ mode: "sessionful" });
  const a = await makeUserWithToken("pg-route");
  owner = { user: a.user, id: await addIntegration(a.user.id, "Fixture", server.url) };
  const b = await makeUserWithToken("pg-route-other");
  other = { user: b.user, id: await addIntegration(b.user.id, "Fixture", server.url) };
});

afterAll(async () => {
  await closeAll();
  await server?.close();
});

function call(id: string, body: unknown, opts: { origin?: string; signal?: AbortSignal } = {}) {
  return POST(
    new Request(`${ORIGIN}/api/integrations/${id}/call`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: opts.origin ?? ORIGIN },
      body: JSON.stringify(body),
      signal: opts.signal,
    }),
    { params: Promise.resolve({ id }) },
  );
}

async function lines(res: Response): Promise<Record<string, unknown>[]> {
  const text = await res.text();
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("POST /api/integrations/:id/call", () => {
  it("streams the result with the output-schema verdict", async () => {
    session.user = owner.user;
    const res = await call(owner.id, { tool: "add", arguments: { a: 2, b: 3 } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const out = await lines(res);
    expect(out.at(-1)).toMatchObject({
      type: "result",
      result: { structuredContent: { sum: 5 } },
      outputCheck: { status: "valid" },
    });
  });

  it("answers invalid arguments as an error line", async () => {
    session.user = owner.user;
    const out = await lines(await call(owner.id, { tool: "echo", arguments: { text: 5 } }));
    expect(out.at(-1)).toMatchObject({ type: "error", code: "invalid_arguments" });
  });

  it("a closed request cancels the call on the server (notifications/cancelled)", async () => {
    session.user = owner.user;
    const ctl = new AbortController();
    const res = call(owner.id, { tool: "hang", arguments: {} }, { signal: ctl.signal });
    await expect.poll(() => server.calls.filter((c) => c.name === "hang").at(-1)?.outcome).toBe("pending");
    ctl.abort();
    const out = await lines(await res);
    expect(out.at(-1)).toMatchObject({ type: "error", code: "cancelled" });
    await expect
      .poll(() => server.requests.some((r) => r.rpcMethod === "notifications/cancelled"), { timeout: 10_000 })
      .toBe(true);
    await expect.poll(() => server.calls.filter((c) => c.name === "hang").at(-1)?.outcome).toBe("cancelled");
  });

  it("another person's integration is 404; a cross-site request is refused; signed out is 401", async () => {
    session.user = owner.user;
    expect((await call(other.id, { tool: "echo", arguments: { text: "x" } })).status).toBe(404);
    const cross = await call(
      owner.id,
      { tool: "echo", arguments: { text: "x" } },
      { origin: "https://evil.example" },
    );
    expect(cross.status).toBe(403);
    session.user = null;
    expect((await call(owner.id, { tool: "echo", arguments: { text: "x" } })).status).toBe(401);
  });
});
