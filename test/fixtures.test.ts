// Proves the fixture servers with the real MCP SDK v2 client: both protocol eras against both serving
// modes, pagination, API keys, legacy SSE, list_changed, session expiry, hostile servers, the OAuth AS
// (DCR, pre-registered basic/post, consent page, PKCE, rotation, reuse detection, revocation), stdio
// and the standalone launcher.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import {
  Client,
  IssuerMismatchError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
  type Tool,
} from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterEach, describe, expect, it } from "vitest";
import {
  startHostileServer,
  startMcpServer,
  startSseServer,
  type RecordedRequest,
} from "./fixtures/mcp-servers";
import { followAuthorization, startOAuthServer, type OAuthFixture } from "./fixtures/oauth-servers";
import { PNG_1X1 } from "./fixtures/tools";
import { waitFor } from "./wait";

type Era = "legacy" | "auto";
type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.allSettled(cleanups.splice(0).map((fn) => fn()));
});

function track<T extends { close(): Promise<unknown> }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

/** Adds X-Poke-User-Id to every request, as the app's scoped fetch will. */
function userFetch(userId: string): FetchLike {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("x-poke-user-id", userId);
    return fetch(input, { ...init, headers });
  };
}

async function connect(
  url: string,
  era: Era,
  opts: {
    fetch?: FetchLike;
    apiKey?: string;
    onToolsChanged?: (tools: Tool[]) => void;
    listMaxPages?: number;
  } = {},
) {
  const client = new Client(
    { name: "fixtures-test", version: "1.0.0" },
    {
      versionNegotiation: { mode: era },
      ...(opts.listMaxPages ? { listMaxPages: opts.listMaxPages } : {}),
      ...(opts.onToolsChanged
        ? {
            listChanged: {
              tools: { debounceMs: 10, onChanged: (_e, tools) => tools && opts.onToolsChanged!(tools) },
            },
          }
        : {}),
    },
  );
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.apiKey ? { authProvider: { token: async () => opts.apiKey } } : {}),
  });
  await client.connect(transport, { timeout: 60_000 });
  track(client);
  return { client, transport };
}

const textOf = (result: { content?: unknown }) => (result.content as Array<{ text?: string }>)[0]?.text ?? "";

function nextToolsChange(): { onToolsChanged: (tools: Tool[]) => void; next: () => Promise<Tool[]> } {
  let waiters: Array<(tools: Tool[]) => void> = [];
  return {
    onToolsChanged: (tools) => {
      const current = waiters;
      waiters = [];
      current.forEach((w) => w(tools));
    },
    next: () =>
      new Promise<Tool[]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no tools/list_changed within 30 s")), 30_000);
        waiters.push((tools) => {
          clearTimeout(timer);
          resolve(tools);
        });
      }),
  };
}

describe("startMcpServer", () => {
  for (const mode of ["modern", "sessionful"] as const) {
    for (const era of ["legacy", "auto"] as const) {
      it(`${mode} server serves a ${era} client with the basic tools`, async () => {
        const fx = track(
          await startMcpServer({
            mode,
            name: "fx",
            title: "Fixture",
            version: "9.9.9",
            instructions: "Be nice.",
          }),
        );
        const { client } = await connect(fx.url, era, { fetch: userFetch("user-42") });

        const expectedEra = mode === "modern" && era === "auto" ? "modern" : "legacy";
        expect(client.getProtocolEra()).toBe(expectedEra);
        expect(client.getNegotiatedProtocolVersion()).toBe(
          expectedEra === "modern" ? "2026-07-28" : "2025-11-25",
        );
        expect(client.getServerVersion()).toMatchObject({ name: "fx", title: "Fixture", version: "9.9.9" });
        expect(client.getInstructions()).toBe("Be nice.");

        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toEqual(
          expect.arrayContaining([
            "echo",
            "add",
            "image",
            "resource",
            "fail",
            "slow",
            "hang",
            "big",
            "whoami",
            "form",
          ]),
        );
        const form = tools.find((t) => t.name === "form")!;
        expect(form.title).toBe("Form");
        expect(form.annotations?.readOnlyHint).toBe(true);
        expect(form.inputSchema.properties).toMatchObject({
          color: { type: "string", enum: ["red", "green", "blue"] },
          count: { type: "integer", minimum: 1, maximum: 10, default: 3 },
          address: { type: "object", required: ["street", "city"] },
        });

        expect(textOf(await client.callTool({ name: "echo", arguments: { text: "hi" } }))).toBe("hi");
        expect((await client.callTool({ name: "add", arguments: { a: 2, b: 3 } })).structuredContent).toEqual(
          { sum: 5 },
        );
        expect((await client.callTool({ name: "image", arguments: {} })).content).toEqual([
          { type: "image", data: PNG_1X1, mimeType: "image/png" },
        ]);
        expect((await client.callTool({ name: "resource", arguments: {} })).content).toMatchObject([
          { type: "resource", resource: { uri: "fixture://notes/1" } },
        ]);
        expect((await client.callTool({ name: "fail", arguments: {} })).isError).toBe(true);
        expect((await client.callTool({ name: "add", arguments: { a: "x" } })).isError).toBe(true);
        expect(textOf(await client.callTool({ name: "big", arguments: { bytes: 100_000 } }))).toHaveLength(
          100_000,
        );
        const formArgs = { color: "red", count: 2, tags: ["a"], address: { street: "1 Main", city: "X" } };
        expect((await client.callTool({ name: "form", arguments: formArgs })).structuredContent).toEqual(
          formArgs,
        );
        const who = JSON.parse(textOf(await client.callTool({ name: "whoami", arguments: {} })));
        expect(who).toMatchObject({ userId: "user-42", authorization: "absent" });

        expect(fx.requests.length).toBeGreaterThan(3);
        expect(fx.requests.every((r) => r.headers["x-poke-user-id"] === "user-42")).toBe(true);
        expect(fx.calls.map((c) => c.name)).toContain("whoami");
      });
    }
  }

  it("sessionful: headers reach the GET stream and DELETE; list_changed arrives on the GET stream", async () => {
    const fx = track(await startMcpServer({ mode: "sessionful", apiKey: "sk-1" }));
    const changes = nextToolsChange();
    const { client, transport } = await connect(fx.url, "legacy", {
      apiKey: "sk-1",
      fetch: userFetch("u-7"),
      onToolsChanged: changes.onToolsChanged,
    });
    expect(transport.sessionId).toBeTruthy();
    expect(fx.sessionCount()).toBe(1);
    await waitFor(() => fx.requests.some((r) => r.method === "GET"));

    let next = changes.next();
    fx.addTool("dyn_1");
    expect((await next).map((t) => t.name)).toContain("dyn_1");
    next = changes.next();
    fx.setDescription("echo", "Echo, revised");
    expect((await next).find((t) => t.name === "echo")?.description).toBe("Echo, revised");
    next = changes.next();
    fx.removeTool("dyn_1");
    expect((await next).map((t) => t.name)).not.toContain("dyn_1");

    await transport.terminateSession();
    await client.close();
    const methods = new Set(fx.requests.map((r) => r.method));
    expect(methods).toEqual(new Set(["POST", "GET", "DELETE"]));
    for (const r of fx.requests) {
      expect(r.headers.authorization).toBe("Bearer sk-1");
      expect(r.headers["x-poke-user-id"]).toBe("u-7");
    }
    expect(fx.sessionCount()).toBe(0);
  });

  it("modern: list_changed reaches a 2026 client through subscriptions/listen", async () => {
    const fx = track(await startMcpServer());
    const changes = nextToolsChange();
    const { client } = await connect(fx.url, "auto", { onToolsChanged: changes.onToolsChanged });
    expect(client.getProtocolEra()).toBe("modern");
    await waitFor(() => fx.requests.some((r) => r.rpcMethod === "subscriptions/listen"));
    const next = changes.next();
    fx.addTool("late_tool");
    expect((await next).map((t) => t.name)).toContain("late_tool");
  });

  it("sessionful: expireSessions makes the next request fail with 404", async () => {
    const fx = track(await startMcpServer({ mode: "sessionful" }));
    const { client } = await connect(fx.url, "legacy");
    await client.callTool({ name: "echo", arguments: { text: "before" } });
    fx.expireSessions();
    expect(fx.sessionCount()).toBe(0);
    const error = await client
      .callTool({ name: "echo", arguments: { text: "after" } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdkHttpError);
    expect((error as SdkHttpError).status).toBe(404);
    const again = await connect(fx.url, "legacy");
    expect(textOf(await again.client.callTool({ name: "echo", arguments: { text: "new" } }))).toBe("new");
  });

  it("apiKey: 401 with a Bearer challenge without the key, success with it", async () => {
    const fx = track(await startMcpServer({ apiKey: "sk-secret" }));
    const raw = await fetch(fx.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(raw.status).toBe(401);
    expect(raw.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await raw.json()).toMatchObject({ error: "invalid_token" });

    const denied = await connect(fx.url, "auto").catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(SdkHttpError);
    expect((denied as SdkHttpError).status).toBe(401);
    const wrong = await connect(fx.url, "legacy", { apiKey: "nope" }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(Error);

    const { client } = await connect(fx.url, "auto", { apiKey: "sk-secret" });
    const who = JSON.parse(textOf(await client.callTool({ name: "whoami", arguments: {} })));
    expect(who.authorization).toBe("present");
  });

  for (const era of ["legacy", "auto"] as const) {
    it(`paginates 1000 tools for a ${era} client`, async () => {
      const fx = track(await startMcpServer({ tools: 1000 }));
      const { client } = await connect(fx.url, era);
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(1000);
      expect(new Set(tools.map((t) => t.name)).size).toBe(1000);
      expect(tools[0].name).toBe("tool_0000");
      expect(tools[999].name).toBe("tool_0999");
      expect(fx.requests.filter((r) => r.rpcMethod === "tools/list")).toHaveLength(10);
      const page = await client.listTools({ cursor: "100" });
      expect(page.tools[0].name).toBe("tool_0100");
      expect(page.nextCursor).toBe("200");
      expect(textOf(await client.callTool({ name: "tool_0500", arguments: { value: "v" } }))).toBe(
        "tool_0500: v",
      );
    });
  }

  for (const [mode, era] of [
    ["modern", "auto"],
    ["sessionful", "legacy"],
  ] as const) {
    it(`${mode}: a hanging call is cancelled when a ${era} client times out`, async () => {
      const fx = track(await startMcpServer({ mode }));
      const { client } = await connect(fx.url, era);
      const error = await client
        .callTool({ name: "hang", arguments: {} }, { timeout: 200 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SdkError);
      expect((error as SdkError).code).toBe(SdkErrorCode.RequestTimeout);
      await waitFor(() => fx.calls.some((c) => c.name === "hang" && c.outcome === "cancelled"));
      expect(textOf(await client.callTool({ name: "slow", arguments: { ms: 50 } }))).toBe("slept 50ms");
    });
  }

  it("serves only its path", async () => {
    const fx = track(await startMcpServer({ path: "/custom" }));
    expect(fx.url.endsWith("/custom")).toBe(true);
    expect((await fetch(`${fx.origin}/mcp`, { method: "POST" })).status).toBe(404);
  });
});

describe("startSseServer", () => {
  it("serves a legacy SSE client and refuses Streamable HTTP POSTs with 405", async () => {
    const fx = track(await startSseServer({ apiKey: "sse-key" }));
    expect(fx.url.endsWith("/sse")).toBe(true);
    expect(
      (await fetch(fx.url, { method: "POST", headers: { authorization: "Bearer sse-key" } })).status,
    ).toBe(405);
    expect((await fetch(fx.url)).status).toBe(401);

    const client = track(new Client({ name: "sse-test", version: "1.0.0" }));
    await client.connect(
      new SSEClientTransport(new URL(fx.url), {
        fetch: userFetch("sse-user"),
        authProvider: { token: async () => "sse-key" },
      }),
    );
    expect(client.getNegotiatedProtocolVersion()).toBe("2025-11-25");
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("echo");
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "over sse" } }))).toBe("over sse");
    const who = JSON.parse(textOf(await client.callTool({ name: "whoami", arguments: {} })));
    expect(who).toMatchObject({ userId: "sse-user", authorization: "present" });

    const authorized = fx.requests.filter((r) => r.headers.authorization === "Bearer sse-key");
    const paths = new Set(authorized.map((r: RecordedRequest) => `${r.method} ${r.path}`));
    expect(paths).toEqual(new Set(["POST /sse", "GET /sse", "POST /messages"]));
    expect(
      authorized
        .filter((r) => r.path !== "/sse" || r.method === "GET")
        .every((r) => r.headers["x-poke-user-id"] === "sse-user"),
    ).toBe(true);
  });
});

describe("startHostileServer", () => {
  const post = (url: string, body: unknown = { jsonrpc: "2.0", id: 1, method: "initialize", params: {} }) =>
    fetch(url, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify(body),
    });

  it("html, invalid-json, status-500 and redirect answer what they promise", async () => {
    const html = track(await startHostileServer("html"));
    const htmlRes = await post(html.url);
    expect(htmlRes.headers.get("content-type")).toMatch(/text\/html/);
    expect(await htmlRes.text()).toMatch(/not an MCP endpoint/);

    const invalid = track(await startHostileServer("invalid-json"));
    const invalidRes = await post(invalid.url);
    expect(invalidRes.headers.get("content-type")).toBe("application/json");
    await expect(invalidRes.json()).rejects.toThrow();

    const failing = track(await startHostileServer("status-500"));
    expect((await post(failing.url)).status).toBe(500);
    expect(await connect(failing.url, "auto").catch((e: unknown) => e)).toBeInstanceOf(Error);

    const redirect = track(await startHostileServer("redirect"));
    const redirected = await post(redirect.url);
    expect(redirected.status).toBe(302);
    const location = new URL(redirected.headers.get("location")!);
    expect(location.origin).not.toBe(redirect.origin);
    expect(location.href).toBe(redirect.redirectTarget!.url);
    expect(redirect.redirectTarget!.requests).toHaveLength(0);
  });

  it("slow-headers accepts the request and never answers", async () => {
    const fx = track(await startHostileServer("slow-headers"));
    const error = await fetch(fx.url, { method: "POST", body: "{}", signal: AbortSignal.timeout(300) }).catch(
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe("TimeoutError");
    expect(fx.requests).toHaveLength(1);
  });

  for (const era of ["legacy", "auto"] as const) {
    it(`connect succeeds but lists misbehave (${era})`, async () => {
      const oversized = track(await startHostileServer("oversized", { oversizeBytes: 2 * 1024 * 1024 }));
      const big = await connect(oversized.url, era);
      const { tools } = await big.client.listTools();
      expect(tools[0].description!.length).toBe(2 * 1024 * 1024);

      const infinite = track(await startHostileServer("infinite-pagination"));
      const endless = await connect(infinite.url, era, { listMaxPages: 5 });
      const paging = await endless.client.listTools().catch((e: unknown) => e);
      expect(paging).toBeInstanceOf(SdkError);
      expect((paging as SdkError).code).toBe(SdkErrorCode.ListPaginationExceeded);

      const wrongId = track(await startHostileServer("wrong-id"));
      const confused = await connect(wrongId.url, era);
      const timedOut = await confused.client
        .callTool({ name: "echo", arguments: {} }, { timeout: 300 })
        .catch((e: unknown) => e);
      expect(timedOut).toBeInstanceOf(Error);

      const polluted = track(await startHostileServer("proto-pollution"));
      const victim = await connect(polluted.url, era);
      await victim.client.listTools().catch(() => undefined);
      await victim.client.callTool({ name: "polluted", arguments: {} }).catch(() => undefined);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const rawList = await post(polluted.url, { jsonrpc: "2.0", id: 7, method: "tools/list", params: {} });
      expect(await rawList.text()).toContain('"__proto__":{"type":"string"');
    });
  }

  it("oversized answers tools/call with the full 20 MiB by default", async () => {
    const fx = track(await startHostileServer("oversized"));
    const { client } = await connect(fx.url, "auto");
    const result = await client.callTool({ name: "echo", arguments: { text: "x" } });
    expect(textOf(result).length).toBe(20 * 1024 * 1024);
  });
});

/** In-memory OAuthClientProvider, the shape the app's DB-backed one will have. */
class MemoryOAuthProvider implements OAuthClientProvider {
  authorizationUrl?: URL;
  client?: StoredOAuthClientInformation;
  stored?: StoredOAuthTokens;
  verifier = "";
  discovery?: OAuthDiscoveryState;
  saveClientInformation?: (info: StoredOAuthClientInformation) => void;

  constructor(private readonly preRegistered?: StoredOAuthClientInformation) {
    if (!preRegistered) this.saveClientInformation = (info) => void (this.client = info);
  }
  get redirectUrl() {
    return "http://127.0.0.1:3999/api/oauth/callback";
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "Poke test client",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    };
  }
  clientInformation() {
    return this.preRegistered ?? this.client;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.stored = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery") {
    if (scope === "all" || scope === "tokens") this.stored = undefined;
    if (scope === "all" || scope === "discovery") this.discovery = undefined;
    if ((scope === "all" || scope === "client") && !this.preRegistered) this.client = undefined;
  }
}

async function oauthConnect(fx: OAuthFixture, provider: MemoryOAuthProvider, era: Era = "auto") {
  const client = new Client({ name: "oauth-test", version: "1.0.0" }, { versionNegotiation: { mode: era } });
  await client.connect(new StreamableHTTPClientTransport(new URL(fx.mcpUrl), { authProvider: provider }), {
    timeout: 60_000,
  });
  return track(client);
}

/** Full web flow: connect → 401 → authorize (browserless) → finishAuth → connect again. */
async function authorizeAndConnect(
  fx: OAuthFixture,
  provider: MemoryOAuthProvider,
  opts: { era?: Era; decision?: "approve" | "deny" } = {},
) {
  const first = await oauthConnect(fx, provider, opts.era).catch((e: unknown) => e);
  expect(first).toBeInstanceOf(UnauthorizedError);
  const callback = await followAuthorization(provider.authorizationUrl!, { decision: opts.decision });
  await new StreamableHTTPClientTransport(new URL(fx.mcpUrl), { authProvider: provider }).finishAuth(
    callback.searchParams,
  );
  return { client: await oauthConnect(fx, provider, opts.era), callback };
}

async function tokenRequest(fx: OAuthFixture, provider: MemoryOAuthProvider, params: Record<string, string>) {
  const info = provider.clientInformation()!;
  return fetch(`${fx.issuer}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${info.client_id}:${info.client_secret}`).toString("base64")}`,
    },
    body: new URLSearchParams(params),
  });
}

describe("startOAuthServer", () => {
  it("DCR + PKCE + iss + resource, then whoami reports the client and scopes", async () => {
    const fx = track(await startOAuthServer());
    const provider = new MemoryOAuthProvider();
    const { client, callback } = await authorizeAndConnect(fx, provider);
    const auth = provider.authorizationUrl!;
    expect(auth.searchParams.get("code_challenge_method")).toBe("S256");
    expect(auth.searchParams.get("resource")).toBe(fx.mcpUrl);
    expect(callback.searchParams.get("iss")).toBe(fx.issuer);
    expect(client.getProtocolEra()).toBe("modern");

    const who = JSON.parse(textOf(await client.callTool({ name: "whoami", arguments: {} })));
    expect(who).toMatchObject({
      clientId: provider.client!.client_id,
      scopes: ["mcp:read", "mcp:write"],
      authorization: "present",
    });
    expect(fx.stats).toMatchObject({
      registrations: 1,
      authorizations: 1,
      tokenRequests: 1,
      refreshRequests: 0,
    });
    expect(fx.registeredClients()).toEqual([
      { client_id: provider.client!.client_id, token_endpoint_auth_method: "client_secret_basic" },
    ]);
    expect(fx.tokenLog[0]).toMatchObject({
      grantType: "authorization_code",
      authMethod: "client_secret_basic",
      resource: fx.mcpUrl,
    });

    const unauth = await fetch(fx.mcpUrl, { method: "POST" });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get("www-authenticate")).toContain(
      `resource_metadata="${fx.origin}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  for (const method of ["client_secret_basic", "client_secret_post"] as const) {
    it(`pre-registered client without DCR (${method})`, async () => {
      const fx = track(
        await startOAuthServer({
          dcr: false,
          clients: [{ client_id: "poke", client_secret: "s3cret", token_endpoint_auth_method: method }],
          mcp: { mode: "sessionful" },
        }),
      );
      const meta = await (await fetch(`${fx.issuer}/.well-known/oauth-authorization-server`)).json();
      expect(meta.registration_endpoint).toBeUndefined();
      const provider = new MemoryOAuthProvider({
        client_id: "poke",
        client_secret: "s3cret",
        token_endpoint_auth_method: method,
      });
      const { client } = await authorizeAndConnect(fx, provider, { era: "legacy" });
      expect(JSON.parse(textOf(await client.callTool({ name: "whoami", arguments: {} }))).clientId).toBe(
        "poke",
      );
      expect(fx.stats.registrations).toBe(0);
      expect(fx.tokenLog.map((t) => t.authMethod)).toEqual([method]);

      // Authenticating with the other method is refused.
      const other: Record<string, string> =
        method === "client_secret_basic" ? { client_id: "poke", client_secret: "s3cret" } : {};
      const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
      if (method === "client_secret_post")
        headers.authorization = `Basic ${Buffer.from("poke:s3cret").toString("base64")}`;
      const refused = await fetch(`${fx.issuer}/token`, {
        method: "POST",
        headers,
        body: new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: provider.stored!.refresh_token!,
          ...other,
        }),
      });
      expect(refused.status).toBe(401);
      expect((await refused.json()).error).toBe("invalid_client");
    });
  }

  it("consent page: Deny returns access_denied, Approve completes the flow", async () => {
    const fx = track(await startOAuthServer({ consent: "page", separateOrigins: true }));
    expect(new URL(fx.issuer).origin).not.toBe(fx.origin);
    const provider = new MemoryOAuthProvider();
    expect(await oauthConnect(fx, provider).catch((e: unknown) => e)).toBeInstanceOf(UnauthorizedError);
    const page = await (await fetch(provider.authorizationUrl!)).text();
    expect(page).toContain("Poke test client");
    expect(page).toContain("mcp:read");
    expect(page).toMatch(/<button[^>]*>Approve<\/button>/);
    expect(page).toMatch(/<button[^>]*>Deny<\/button>/);
    const denied = await followAuthorization(provider.authorizationUrl!, { decision: "deny" });
    expect(denied.searchParams.get("error")).toBe("access_denied");
    expect(denied.searchParams.get("iss")).toBe(fx.issuer);

    const { client } = await authorizeAndConnect(fx, provider);
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "ok" } }))).toBe("ok");
    const asOrigin = new URL(fx.issuer).origin;
    expect(fx.requests.some((r) => r.origin === asOrigin && r.path === "/token")).toBe(true);
    expect(fx.requests.filter((r) => r.origin === asOrigin).every((r) => r.path !== "/mcp")).toBe(true);
  });

  it("PKCE: a wrong code_verifier is rejected", async () => {
    const fx = track(await startOAuthServer());
    const provider = new MemoryOAuthProvider();
    await oauthConnect(fx, provider).catch(() => undefined);
    const callback = await followAuthorization(provider.authorizationUrl!);
    const res = await tokenRequest(fx, provider, {
      grant_type: "authorization_code",
      code: callback.searchParams.get("code")!,
      code_verifier: "not-the-verifier-not-the-verifier-not-the-verifier",
      redirect_uri: provider.redirectUrl,
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe("invalid_grant");
  });

  it("rotates refresh tokens and revokes the family when an old one is reused", async () => {
    const fx = track(await startOAuthServer());
    const provider = new MemoryOAuthProvider();
    const { client } = await authorizeAndConnect(fx, provider);
    const firstRefresh = provider.stored!.refresh_token!;

    fx.expireAllAccessTokens();
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "refreshed" } }))).toBe(
      "refreshed",
    );
    expect(fx.stats.refreshRequests).toBe(1);
    const secondRefresh = provider.stored!.refresh_token!;
    expect(secondRefresh).not.toBe(firstRefresh);

    const reuse = await tokenRequest(fx, provider, {
      grant_type: "refresh_token",
      refresh_token: firstRefresh,
    });
    expect(reuse.status).toBe(400);
    expect((await reuse.json()).error).toBe("invalid_grant");
    const afterReuse = await tokenRequest(fx, provider, {
      grant_type: "refresh_token",
      refresh_token: secondRefresh,
    });
    expect((await afterReuse.json()).error).toBe("invalid_grant");
    // The family's access token died with it.
    const call = await client.callTool({ name: "echo", arguments: { text: "x" } }).catch((e: unknown) => e);
    expect(call).toBeInstanceOf(UnauthorizedError);
  });

  it("revocation (RFC 7009) of the refresh token ends the grant; revokeAllRefreshTokens → invalid_grant", async () => {
    const fx = track(await startOAuthServer({ rotateRefreshTokens: false }));
    const provider = new MemoryOAuthProvider();
    const { client } = await authorizeAndConnect(fx, provider);
    const refresh = provider.stored!.refresh_token!;
    const same = await tokenRequest(fx, provider, { grant_type: "refresh_token", refresh_token: refresh });
    expect((await same.json()).refresh_token).toBe(refresh);

    fx.revokeAllRefreshTokens();
    const revokedAll = await tokenRequest(fx, provider, {
      grant_type: "refresh_token",
      refresh_token: refresh,
    });
    expect((await revokedAll.json()).error).toBe("invalid_grant");

    const fx2 = track(await startOAuthServer());
    const provider2 = new MemoryOAuthProvider();
    const second = await authorizeAndConnect(fx2, provider2);
    const info = provider2.clientInformation()!;
    const revoked = await fetch(`${fx2.issuer}/revoke`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${info.client_id}:${info.client_secret}`).toString("base64")}`,
      },
      body: new URLSearchParams({
        token: provider2.stored!.refresh_token!,
        token_type_hint: "refresh_token",
      }),
    });
    expect(revoked.status).toBe(200);
    expect(fx2.stats.revocations).toBe(1);
    const call = await second.client
      .callTool({ name: "echo", arguments: { text: "x" } })
      .catch((e: unknown) => e);
    expect(call).toBeInstanceOf(UnauthorizedError);
    expect(client).toBeDefined();
  });

  it("hostile authorization servers", async () => {
    const wrongIssuer = track(await startOAuthServer({ hostile: "wrong-issuer" }));
    const e1 = await oauthConnect(wrongIssuer, new MemoryOAuthProvider()).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(IssuerMismatchError);

    const wrongIss = track(await startOAuthServer({ hostile: "wrong-iss" }));
    const p2 = new MemoryOAuthProvider();
    await oauthConnect(wrongIss, p2).catch(() => undefined);
    const cb = await followAuthorization(p2.authorizationUrl!);
    const e2 = await new StreamableHTTPClientTransport(new URL(wrongIss.mcpUrl), { authProvider: p2 })
      .finishAuth(cb.searchParams)
      .catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(IssuerMismatchError);

    const noPkce = track(await startOAuthServer({ hostile: "no-pkce" }));
    const meta = await (await fetch(`${noPkce.issuer}/.well-known/oauth-authorization-server`)).json();
    expect(meta.code_challenge_methods_supported).toBeUndefined();

    const mismatch = track(await startOAuthServer({ hostile: "resource-mismatch" }));
    const e3 = await oauthConnect(mismatch, new MemoryOAuthProvider()).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(Error);
    expect(e3).not.toBeInstanceOf(UnauthorizedError);

    const js = track(await startOAuthServer({ hostile: "javascript-endpoint" }));
    const jsMeta = await (await fetch(`${js.issuer}/.well-known/oauth-authorization-server`)).json();
    expect(jsMeta.authorization_endpoint).toMatch(/^javascript:/);

    const huge = track(await startOAuthServer({ hostile: "huge-metadata" }));
    const hugeText = await (await fetch(`${huge.issuer}/.well-known/oauth-authorization-server`)).text();
    expect(hugeText.length).toBeGreaterThan(4 * 1024 * 1024);

    const garbage = track(await startOAuthServer({ hostile: "garbage-token" }));
    const p4 = new MemoryOAuthProvider();
    await oauthConnect(garbage, p4).catch(() => undefined);
    const cb4 = await followAuthorization(p4.authorizationUrl!);
    const e4 = await new StreamableHTTPClientTransport(new URL(garbage.mcpUrl), { authProvider: p4 })
      .finishAuth(cb4.searchParams)
      .catch((e: unknown) => e);
    expect(e4).toBeInstanceOf(Error);
    expect(p4.stored).toBeUndefined();

    const privateRedirect = track(await startOAuthServer({ hostile: "private-redirect" }));
    const redirected = await fetch(`${privateRedirect.issuer}/token`, { method: "POST", redirect: "manual" });
    expect(redirected.status).toBe(307);
    expect(redirected.headers.get("location")).toMatch(/^http:\/\/169\.254\.169\.254\//);
  });
});

describe("stdio-server and run.ts", () => {
  it("stdio fixture serves tools and echoes its environment", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--import", "tsx", "test/fixtures/stdio-server.ts"],
      env: { ...(process.env as Record<string, string>), FIXTURE_ENV: "from-env" },
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const client = track(
      new Client({ name: "stdio-test", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } }),
    );
    await client.connect(transport, { timeout: 60_000 });
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "stdio" } }))).toBe("stdio");
    expect(textOf(await client.callTool({ name: "env", arguments: { name: "FIXTURE_ENV" } }))).toBe(
      "from-env",
    );
    expect((await client.callTool({ name: "add", arguments: { a: 1, b: 2 } })).structuredContent).toEqual({
      sum: 3,
    });
    expect(stderr).toContain("stdio fixture ready");
  }, 20_000);

  it("run.ts prints one JSON line, serves, and exits cleanly on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/fixtures/run.ts", "mcp", "--api-key", "k1", "--mode", "sessionful"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    cleanups.push(async () => child.exitCode === null && child.kill("SIGKILL"));
    const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
    const ready = JSON.parse(line) as { url: string; origin: string };
    expect(ready.url).toBe(`${ready.origin}/mcp`);
    const { client } = await connect(ready.url, "legacy", { apiKey: "k1" });
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "cli" } }))).toBe("cli");
    await client.close();
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
  }, 20_000);
});
