// Every HTTP request to the running app (production build, server.ts) is served by Next.js: routes that read
// the request through next/headers (next-auth's handler, the OAuth callback's session check) answer the
// same on every repeat, and the JSON API keeps its answers, status codes and next.config headers from the
// first request to the last.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiCall, signIn, startApp, type App, type CookieJar, type SeededUser } from "./cli-helpers";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";

const REPEATS = 3;

describe("one request path: the built app answers every request through Next.js", () => {
  let mcp: McpFixture;
  let app: App;
  let alice: SeededUser;
  let bob: SeededUser;
  let jar: CookieJar;

  beforeAll(async () => {
    mcp = await startMcpServer({ tools: "basic" });
    app = await startApp(["alice", "bob"]);
    ({ alice, bob } = app.users);
    jar = await signIn(app, alice);
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    await mcp?.close();
  });

  it("next-auth's session route (headers() and cookies()) answers 200 with the signed-in person every time", async () => {
    for (let i = 0; i < REPEATS; i++) {
      const res = await fetch(`${app.url}/api/auth/session`, { headers: { cookie: jar.header() } });
      expect({ i, status: res.status }).toEqual({ i, status: 200 });
      expect(((await res.json()) as { user?: { email?: string } }).user?.email).toBe(alice.email);
    }
  });

  it("the OAuth callback reads the session (getServerSession → headers()) on every request", async () => {
    const callback = `${app.url}/api/oauth/callback?state=unknown&code=x`;
    for (let i = 0; i < REPEATS; i++) {
      const signedIn = await fetch(callback, { redirect: "manual", headers: { cookie: jar.header() } });
      expect(signedIn.status).toBe(303);
      // Known person, unknown state: back to the integrations page with the error, not to sign-in.
      expect(signedIn.headers.get("location")).toBe(`${app.url}/integrations?oauth_error=invalid_state`);
      const anonymous = await fetch(callback, { redirect: "manual" });
      expect(anonymous.status).toBe(303);
      expect(new URL(anonymous.headers.get("location")!).pathname).toBe("/sign-in");
    }
  });

  it("the JSON API answers the same on first and repeated requests", async () => {
    for (let i = 0; i < REPEATS; i++) {
      const me = await fetch(`${app.url}/api/v1/me`, { headers: { authorization: `Bearer ${alice.token}` } });
      expect(me.status).toBe(200);
      expect(me.headers.get("x-frame-options")).toBe("DENY"); // next.config headers apply to the API too
      expect(await me.json()).toMatchObject({ id: alice.id, email: alice.email, name: "alice" });

      const anonymous = await fetch(`${app.url}/api/v1/me`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="poke"');
      expect(await anonymous.json()).toEqual({
        error: { code: "unauthorized", message: "Send an API token as Authorization: Bearer <token>" },
      });

      const unknown = await apiCall(app, alice, "GET", "/api/v1/nothing/here");
      expect(unknown).toEqual({
        status: 404,
        data: { error: { code: "not_found", message: "No such API route" } },
      });
    }

    const created = await apiCall<{ integration: { id: string } }>(
      app,
      alice,
      "POST",
      "/api/v1/integrations",
      {
        name: "routing",
        url: mcp.url,
      },
    );
    expect(created.status).toBe(201);
    const id = created.data.integration.id;
    for (let i = 0; i < REPEATS; i++) {
      const list = await apiCall<{ integrations: { id: string; name: string }[] }>(
        app,
        alice,
        "GET",
        "/api/v1/integrations",
      );
      expect(list.status).toBe(200);
      expect(list.data.integrations.map((x) => [x.id, x.name])).toEqual([[id, "routing"]]);

      const call = await apiCall<{ result: { content: { text: string }[] } }>(
        app,
        alice,
        "POST",
        `/api/v1/integrations/${id}/tools/echo/call`,
        { arguments: { text: `hi ${i}` } },
      );
      expect(call.status).toBe(200);
      expect(call.data.result.content[0].text).toBe(`hi ${i}`);

      // Another user's integration is "not found", every time.
      const foreign = await apiCall(app, bob, "GET", `/api/v1/integrations/${id}`);
      expect(foreign.status).toBe(404);
    }
  });

  it("keeps an idle connection open past Node's 5 s default, so a returning client reuses it", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status?: number; keepAlive: unknown; reused: boolean }>((resolve, reject) => {
        const req = http.get(`${app.url}/api/health`, { agent }, (res) => {
          res.resume();
          res.on("end", () =>
            resolve({
              status: res.statusCode,
              keepAlive: res.headers["keep-alive"],
              reused: req.reusedSocket,
            }),
          );
        });
        req.on("error", reject);
      });
    try {
      const first = await get();
      expect(first).toMatchObject({ status: 200, keepAlive: "timeout=65", reused: false });
      // Idle for longer than Node's default keep-alive (5 s): the server must not have closed it.
      await new Promise((r) => setTimeout(r, 6_000));
      expect(await get()).toMatchObject({ status: 200, reused: true });
    } finally {
      agent.destroy();
    }
  }, 30_000);
});
