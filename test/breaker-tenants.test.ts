// Circuit breakers between tenants (docs/security.md §21), through the real call route and engine against one
// fixture origin that serves real MCP servers under two paths, /a/mcp and /b/mcp, as hosting platforms do.
// One user's failing server pauses only that user's calls to it; the whole origin pauses only when calls of
// several users fail, and then answers 503 circuit_open with Retry-After until a probe succeeds.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { POST as callRoute } from "@/app/api/v1/integrations/[id]/tools/[name]/call/route";
import { breakerState, configureLimits, resetLimits } from "@/lib/limits/calls";
import { closeAll } from "@/lib/mcp/pool";
import { listen, webHandler, type Listener } from "./fixtures/http";
import { createMcpEndpoint, type McpEndpoint } from "./fixtures/mcp-endpoint";
import { addIntegration, makeUserWithToken, textOf } from "./agent-helpers";
import { waitFor } from "./wait";

/** One origin, one real MCP server per path; `failing` paths answer every request with HTTP 500. */
type SharedOrigin = {
  origin: string;
  url(path: string): string;
  failing: Set<string>;
  hits(path: string): number;
};

let host: Listener;
let shared: SharedOrigin;
const endpoints = new Map<string, McpEndpoint>();

beforeAll(async () => {
  const failing = new Set<string>();
  host = await listen(
    webHandler(async (req, { json }) => {
      const path = new URL(req.url).pathname;
      if (failing.has(path)) return new Response("Internal Server Error", { status: 500 });
      let endpoint = endpoints.get(path);
      if (!endpoint) endpoints.set(path, (endpoint = createMcpEndpoint({ name: `server at ${path}` })));
      return endpoint.fetch(req, { parsedBody: json });
    }),
    { name: "shared-origin" },
  );
  shared = {
    origin: host.origin,
    url: (path) => `${host.origin}${path}`,
    failing,
    hits: (path) => host.requests.filter((r) => r.path === path).length,
  };
});
afterEach(() => {
  resetLimits();
  shared.failing.clear();
});
afterAll(async () => {
  await closeAll();
  await Promise.all([...endpoints.values()].map((e) => e.close()));
  await host?.close();
});

type Tenant = { userId: string; token: string; id: string };
async function tenant(tag: string, path: string): Promise<Tenant> {
  const { user, token } = await makeUserWithToken(tag);
  return { userId: user.id, token, id: await addIntegration(user.id, `Server ${tag}`, shared.url(path)) };
}

/** POST /api/v1/integrations/:id/tools/echo/call, as the tenant's API token. */
const echo = (t: Tenant, text: string) =>
  callRoute(
    new Request(`http://localhost:3999/api/v1/integrations/${t.id}/tools/echo/call`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.token}`, "content-type": "application/json" },
      body: JSON.stringify({ arguments: { text } }),
    }),
    { params: Promise.resolve({ id: t.id, name: "echo" }) },
  );

async function expectEcho(t: Tenant, text: string) {
  const res = await echo(t, text);
  expect(res.status).toBe(200);
  expect(textOf((await res.json()).result)).toContain(text);
}

async function expectCircuitOpen(t: Tenant) {
  const res = await echo(t, "refused");
  expect(res.status).toBe(503);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  const { error } = await res.json();
  expect(error.code).toBe("circuit_open");
  expect(error.message).toContain(new URL(shared.origin).host);
  return error as { message: string };
}

describe("one origin, two tenants", () => {
  it("user B's server answering 500 pauses B's calls to it, never user A's server on the same origin", async () => {
    const a = await tenant("a", "/a/mcp");
    const b = await tenant("b", "/b/mcp");
    shared.failing.add("/b/mcp");
    for (let i = 0; i < 5; i++) expect((await echo(b, `fail ${i}`)).status).toBe(502);
    const refused = await expectCircuitOpen(b);
    expect(refused.message).toContain("/b/mcp failed 5 times in a row");
    const sent = shared.hits("/b/mcp");
    await expectCircuitOpen(b);
    expect(shared.hits("/b/mcp")).toBe(sent); // paused: nothing goes out

    // A, on the same origin, is not slowed at all; nor is anyone else's use of B's URL.
    for (let i = 0; i < 10; i++) await expectEcho(a, `a ${i}`);
    shared.failing.delete("/b/mcp");
    const otherOnB = await tenant("b2", "/b/mcp");
    await expectEcho(otherOnB, "same URL, another user");
    expect(await breakerState(a.userId, shared.url("/a/mcp"))).toMatchObject({
      state: "closed",
      scope: "server",
    });
    expect(await breakerState(b.userId, shared.url("/b/mcp"))).toMatchObject({
      state: "open",
      scope: "server",
    });
  });

  it("one user's failing servers under many paths never pause the origin for others", async () => {
    const a = await tenant("a", "/a/mcp");
    const { user, token } = await makeUserWithToken("many-paths");
    const paths = ["/b1/mcp", "/b2/mcp", "/b3/mcp", "/b4/mcp"];
    const own: Tenant[] = [];
    for (const p of paths)
      own.push({ userId: user.id, token, id: await addIntegration(user.id, p, shared.url(p)) });
    for (const p of paths) shared.failing.add(p);
    for (const t of own) for (let i = 0; i < 5; i++) expect((await echo(t, "x")).status).toBe(502);
    for (const t of own) await expectCircuitOpen(t);
    await expectEcho(a, "still served");
  });
});

describe("a storm on the origin", () => {
  it("failures of three users within the window open the origin for everybody, with Retry-After", async () => {
    // The cool-down outlasts the test: the circuit stays open however slow the machine is.
    configureLimits({ breaker: { coolDownMs: 60 * 60_000 } });
    const a = await tenant("a", "/a/mcp");
    const failing = [await tenant("c", "/b/mcp"), await tenant("d", "/b/mcp"), await tenant("e", "/c/mcp")];
    shared.failing.add("/b/mcp").add("/c/mcp");
    await expectEcho(a, "before");
    for (const t of failing.slice(0, 2)) expect((await echo(t, "x")).status).toBe(502);
    await expectEcho(a, "two users failing is not a storm");
    // A's success started the count over: three distinct users must fail again
    for (const t of failing) expect((await echo(t, "x")).status).toBe(502);

    const sent = shared.hits("/a/mcp");
    const refused = await expectCircuitOpen(a);
    expect(refused.message).toMatch(/failing for several users/);
    expect(shared.hits("/a/mcp")).toBe(sent); // nothing goes out
    expect(await breakerState(a.userId, shared.url("/a/mcp"))).toMatchObject({
      state: "open",
      scope: "origin",
    });
  });

  it("after the cool-down one probe goes through, and its success closes the origin's circuit", async () => {
    configureLimits({ breaker: { coolDownMs: 300 } });
    const a = await tenant("a", "/a/mcp");
    const failing = [await tenant("f", "/b/mcp"), await tenant("g", "/b/mcp"), await tenant("h", "/b/mcp")];
    shared.failing.add("/b/mcp");
    for (const t of failing) expect((await echo(t, "x")).status).toBe(502);
    // open until a call is admitted as the probe, however much time has passed
    const open = await breakerState(a.userId, shared.url("/a/mcp"));
    expect(open).toMatchObject({ state: "open", scope: "origin" });
    await waitFor(() => Date.now() >= open.retryAt!, { what: "the origin's cool-down" });
    await expectEcho(a, "probe"); // A's call is the probe: it succeeds and closes the circuit
    expect(await breakerState(a.userId, shared.url("/a/mcp"))).toMatchObject({ state: "closed" });
    shared.failing.clear();
    for (const t of failing) await expectEcho(t, "recovered");
  });
});
