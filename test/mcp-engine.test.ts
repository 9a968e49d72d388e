// The MCP engine against real fixture servers and a real database (PGlite or PostgreSQL).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encryptField } from "@/lib/crypto";
import { storedTool } from "@/lib/data/catalog";
import { publicUserId } from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { setEnvForProcess } from "@/lib/env";
import { connectMcp } from "@/lib/mcp/connect";
import { discover } from "@/lib/mcp/discover";
import { runDoctor, runDoctorForUrl } from "@/lib/mcp/doctor";
import { callTool, closeAll, configurePool, dropSession, effectiveTimeout, poolSize } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import {
  startHostileServer,
  startMcpServer,
  startSseServer,
  type FixtureHandle,
  type HostileKind,
  type RecordedRequest,
} from "./fixtures/mcp-servers";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

const servers: FixtureHandle[] = [];
async function track<T extends FixtureHandle>(p: Promise<T>): Promise<T> {
  const s = await p;
  servers.push(s);
  return s;
}

let n = 0;
async function makeUser(): Promise<string> {
  const db = await getDb();
  const u = await db.user.create({ data: { email: `u${++n}-${Date.now()}@example.com` } });
  return u.id;
}

async function makeIntegration(userId: string, url: string, apiKey?: string): Promise<string> {
  const db = await getDb();
  const row = await db.integration.create({
    data: { userId, name: `int-${++n}`, url, authKind: apiKey ? "api_key" : "none" },
  });
  if (apiKey) {
    const apiKeyEnc = encryptField(apiKey, { table: "Integration", column: "apiKeyEnc", id: row.id });
    await db.integration.update({ where: { id: row.id }, data: { apiKeyEnc } });
  }
  return row.id;
}

async function toolNames(integrationId: string): Promise<string[]> {
  const db = await getDb();
  const tools = await db.tool.findMany({
    where: { integrationId },
    select: { name: true },
    orderBy: { name: "asc" },
  });
  return tools.map((t) => t.name);
}

async function integration(id: string) {
  const db = await getDb();
  return db.integration.findUniqueOrThrow({ where: { id } });
}

const rpc = (reqs: RecordedRequest[], method: string) => reqs.filter((r) => r.rpcMethod === method);

let userId: string;
beforeAll(async () => {
  userId = await makeUser();
});
afterEach(() => {
  setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1", EGRESS_ALLOWLIST: undefined });
});
afterAll(async () => {
  await closeAll();
  await Promise.all(servers.map((s) => s.close().catch(() => {})));
});

describe("connect + discover + sync", () => {
  it("syncs a modern (2026) server: metadata, transport, tools with hashes", async () => {
    const srv = await track(startMcpServer({ instructions: "Use echo to echo.", name: "fx-modern" }));
    const id = await makeIntegration(userId, srv.url);
    const diff = await syncIntegration(userId, id);
    expect(diff.added).toEqual(expect.arrayContaining(["echo", "add", "whoami", "form"]));
    expect(diff.removed).toEqual([]);
    expect(diff.toolCount).toBe(diff.added.length);
    const row = await integration(id);
    expect(row).toMatchObject({
      status: "connected",
      transport: "streamable-http",
      protocolEra: "modern",
      protocolVersion: "2026-07-28",
      serverName: "fx-modern",
      instructions: "Use echo to echo.",
      lastError: null,
    });
    expect(row.lastSyncedAt).toBeInstanceOf(Date);
    const db = await getDb();
    const add = storedTool(await db.tool.findFirstOrThrow({ where: { integrationId: id, name: "add" } }));
    expect(add.definitionHash).toMatch(/^[0-9a-f]{64}$/);
    expect(add.outputSchema).toMatchObject({ type: "object" });
    // Absent parts are stored as SQL NULL, and re-syncing an unchanged server changes nothing.
    const echo = await db.tool.findFirstOrThrow({ where: { integrationId: id, name: "echo" } });
    expect(echo.outputSchema).toBeNull();
    expect(echo.enabled).toBe(true);
    expect(await db.tool.count({ where: { integrationId: id, outputSchema: null } })).toBeGreaterThan(0);
    expect((await syncIntegration(userId, id)).changed).toEqual([]);
  });

  it("syncs a sessionful 2025-11-25 server", async () => {
    const srv = await track(startMcpServer({ mode: "sessionful" }));
    const id = await makeIntegration(userId, srv.url);
    await syncIntegration(userId, id);
    const row = await integration(id);
    expect(row).toMatchObject({ status: "connected", transport: "streamable-http", protocolEra: "legacy" });
    expect(row.protocolVersion).toBe("2025-11-25");
    // the session was closed politely
    expect(srv.requests.some((r) => r.method === "DELETE")).toBe(true);
  });

  it("falls back to legacy SSE on 405 and remembers the transport", async () => {
    const srv = await track(startSseServer());
    const id = await makeIntegration(userId, srv.url);
    const diff = await syncIntegration(userId, id);
    expect(diff.toolCount).toBeGreaterThan(3);
    expect(await integration(id)).toMatchObject({
      status: "connected",
      transport: "sse",
      protocolEra: "legacy",
    });
    // Second sync uses the stored transport: no Streamable HTTP POST to /sse any more.
    const before = srv.requests.filter((r) => r.path === "/sse" && r.method === "POST").length;
    await syncIntegration(userId, id);
    expect(srv.requests.filter((r) => r.path === "/sse" && r.method === "POST").length).toBe(before);
  });

  it("never falls back to SSE on 401 and says what to do", async () => {
    const srv = await track(startMcpServer({ apiKey: "sk-right" }));
    const id = await makeIntegration(userId, srv.url);
    const err = await expectAppError(syncIntegration(userId, id), /unauthorized|needs_auth/);
    expect(err.message).toMatch(/401/);
    // No SSE GET attempted (the only GETs are for OAuth metadata at the well-known paths, which it lacks).
    expect(srv.requests.some((r) => r.method === "GET" && !r.path.startsWith("/.well-known/"))).toBe(false);
    const row = await integration(id);
    expect(row.status).toMatch(/error|needs_auth/);
    expect(row.lastError).toBe(err.message);
  });

  it("sends the API key and X-Poke-User-Id on every request kind (sessionful: POST, GET, DELETE)", async () => {
    const srv = await track(startMcpServer({ mode: "sessionful", apiKey: "sk-123" }));
    const id = await makeIntegration(userId, srv.url, "sk-123");
    await syncIntegration(userId, id);
    const { result } = await callTool({ userId, integrationId: id }, "whoami", {});
    // The user's public UUID, never the internal id.
    const publicId = await publicUserId(userId);
    expect(JSON.stringify(result.content)).toContain(publicId);
    expect(JSON.stringify(result.content)).not.toContain(userId);
    // The GET stream opens after initialized.
    await waitFor(() => srv.requests.some((r) => r.method === "GET"), { what: "the GET stream" });
    await dropSession(userId, id);
    const kinds = new Set(srv.requests.map((r) => r.method));
    expect(kinds).toEqual(new Set(["POST", "GET", "DELETE"]));
    for (const r of srv.requests) {
      expect(r.headers["x-poke-user-id"], `${r.method} ${r.rpcMethod ?? ""}`).toBe(publicId);
      expect(r.headers.authorization).toBe("Bearer sk-123");
    }
  });

  it("sends the headers on the legacy SSE GET and message POSTs", async () => {
    const srv = await track(startSseServer({ apiKey: "sk-sse" }));
    const id = await makeIntegration(userId, srv.url, "sk-sse");
    await syncIntegration(userId, id);
    expect(srv.requests.some((r) => r.path === "/messages")).toBe(true);
    const publicId = await publicUserId(userId);
    for (const r of srv.requests) {
      expect(r.headers["x-poke-user-id"]).toBe(publicId);
      expect(r.headers.authorization).toBe("Bearer sk-sse");
    }
  });

  it("never sends the key or user id to another origin (cross-origin redirect refused)", async () => {
    const hostile = await track(startHostileServer("redirect"));
    const target = hostile.redirectTarget!;
    servers.push(target);
    const id = await makeIntegration(userId, hostile.url, "sk-secret");
    const err = await expectAppError(syncIntegration(userId, id), "redirect_refused");
    expect(err.message).toMatch(/origin/);
    expect(target.requests).toHaveLength(0);
  });

  it("stores all 1000 tools across pages", async () => {
    const srv = await track(startMcpServer({ tools: 1000, pageSize: 100 }));
    const id = await makeIntegration(userId, srv.url);
    const diff = await syncIntegration(userId, id);
    expect(diff.toolCount).toBe(1000);
    expect(rpc(srv.requests, "tools/list").length).toBe(10);
    const db = await getDb();
    expect(await db.tool.count({ where: { integrationId: id } })).toBe(1000);
  });

  it("re-sync reports added, removed and changed tools and flags changed definitions", async () => {
    const srv = await track(startMcpServer());
    const id = await makeIntegration(userId, srv.url);
    await syncIntegration(userId, id);
    srv.addTool("brand_new");
    srv.removeTool("image");
    srv.setDescription("echo", "Echoes, now differently.");
    const diff = await syncIntegration(userId, id);
    expect(diff).toMatchObject({ added: ["brand_new"], removed: ["image"], changed: ["echo"] });
    expect(diff.unchanged).toBe(diff.toolCount - 2);
    const db = await getDb();
    const echo = await db.tool.findFirstOrThrow({ where: { integrationId: id, name: "echo" } });
    expect(echo.description).toBe("Echoes, now differently.");
    expect(echo.changedAt).toBeInstanceOf(Date);
    const add = storedTool(await db.tool.findFirstOrThrow({ where: { integrationId: id, name: "add" } }));
    expect(add.changedAt).toBeNull();
    const again = await syncIntegration(userId, id);
    expect(again).toMatchObject({ added: [], removed: [], changed: [] });
  });

  it("concurrent syncs leave one complete snapshot", async () => {
    const srv = await track(startMcpServer({ tools: 300, pageSize: 50 }));
    const id = await makeIntegration(userId, srv.url);
    const first = syncIntegration(userId, id);
    srv.addTool("late_tool");
    const results = await Promise.all([first, syncIntegration(userId, id), syncIntegration(userId, id)]);
    for (const r of results) expect(r.toolCount).toBeGreaterThanOrEqual(300);
    const names = await toolNames(id);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("late_tool");
    expect(names.length).toBe(301);
    const row = await integration(id);
    expect(row.syncGeneration).toBe(3);
  });

  it("a foreign user's integration is not found and causes no request", async () => {
    const srv = await track(startMcpServer());
    const id = await makeIntegration(userId, srv.url);
    const stranger = await makeUser();
    const err = await expectAppError(syncIntegration(stranger, id), "not_found");
    expect(err.status).toBe(404);
    await expectAppError(
      callTool({ userId: stranger, integrationId: id }, "echo", { text: "x" }),
      "not_found",
    );
    await expectAppError(runDoctor(stranger, id), "not_found");
    expect(srv.requests).toHaveLength(0);
  });
});

describe("egress policy through the engine", () => {
  it("blocks loopback when ALLOW_PRIVATE_NETWORK is off, unless the exact host:port is allowlisted", async () => {
    const srv = await track(startMcpServer());
    const id = await makeIntegration(userId, srv.url);
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "0" });
    const err = await expectAppError(syncIntegration(userId, id), "blocked_address");
    expect(err.message).toMatch(/loopback/);
    expect(srv.requests).toHaveLength(0);
    expect((await integration(id)).status).toBe("error");
    const localhostUrl = srv.url.replace("127.0.0.1", "localhost");
    const id2 = await makeIntegration(userId, localhostUrl);
    await expectAppError(syncIntegration(userId, id2), "blocked_address");
    setEnvForProcess({ EGRESS_ALLOWLIST: new URL(srv.url).host });
    await syncIntegration(userId, id);
    expect((await integration(id)).status).toBe("connected");
  });

  it("classifies refused connections and DNS failures", async () => {
    const srv = await startMcpServer();
    const url = srv.url;
    await srv.close();
    await expectAppError(connectMcp({ url, userId }), "connection_refused");
    await expectAppError(connectMcp({ url: "http://no-such-host.invalid/mcp", userId }), "dns_failed");
  });
});

describe("hostile servers", () => {
  const cases: [HostileKind, RegExp][] = [
    ["html", /not_mcp/],
    ["invalid-json", /not_mcp|protocol_error/],
    ["oversized", /too_large/],
    ["slow-headers", /timeout/],
    ["wrong-id", /timeout/],
    ["status-500", /server_error/],
  ];
  it.each(cases)("%s → a clear error on that integration only", async (kind, code) => {
    const good = await track(startMcpServer());
    const goodId = await makeIntegration(userId, good.url);
    await syncIntegration(userId, goodId);
    const bad = await track(startHostileServer(kind));
    const badId = await makeIntegration(userId, bad.url);
    // Only a server that never answers properly needs a short deadline; the others answer at once.
    const deadline = code.source === "timeout" ? { timeoutMs: 1500, headersTimeoutMs: 1500 } : {};
    const err = await expectAppError(syncIntegration(userId, badId, deadline), code);
    expect(err.message.length).toBeLessThan(400);
    const row = await integration(badId);
    expect(row.status).toBe("error");
    expect(row.lastError).toBe(err.message);
    expect(await toolNames(badId)).toEqual([]);
    // the other integration still works
    const r = await callTool({ userId, integrationId: goodId }, "echo", { text: "still fine" });
    expect(JSON.stringify(r.result.content)).toContain("still fine");
  });

  // The hostile fixture's hand-written 2026 results omit ttlMs/cacheScope, which the SDK rejects in the
  // modern era, so these two talk to it in the 2025 era (prior: legacy) to reach the behaviour under test.
  it("infinite pagination → too_many_pages after 50 pages", async () => {
    const bad = await track(startHostileServer("infinite-pagination"));
    const conn = await connectMcp({ url: bad.url, userId, prior: { kind: "legacy" } });
    try {
      const err = await expectAppError(
        discover(conn, { url: new URL(bad.url), hasApiKey: false }),
        "too_many_pages",
      );
      expect(err.message).toMatch(/50 pages/);
      expect(rpc(bad.requests, "tools/list").length).toBe(50);
    } finally {
      await conn.close();
    }
  });

  it("proto-pollution: tools are plain data and nothing is polluted", async () => {
    const bad = await track(startHostileServer("proto-pollution"));
    const conn = await connectMcp({ url: bad.url, userId, prior: { kind: "legacy" } });
    try {
      const { tools } = await discover(conn, { url: new URL(bad.url), hasApiKey: false });
      expect(tools.map((t) => t.name).sort()).toEqual(["__proto__", "constructor", "polluted"]);
      const polluted = tools.find((t) => t.name === "polluted")!;
      expect(Object.getPrototypeOf(polluted.inputSchema)).toBe(Object.prototype);
      expect(Object.keys((polluted.inputSchema as { properties: object }).properties)).not.toContain(
        "__proto__",
      );
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect((polluted.annotations as Record<string, unknown> | null)?.polluted).toBeUndefined();
    } finally {
      await conn.close();
    }
  });

  it("a failed re-sync keeps the previous tools", async () => {
    const srv = await track(startMcpServer({ apiKey: "k1" }));
    const id = await makeIntegration(userId, srv.url, "k1");
    await syncIntegration(userId, id);
    const before = await toolNames(id);
    const db = await getDb();
    const apiKeyEnc = encryptField("wrong", { table: "Integration", column: "apiKeyEnc", id });
    await db.integration.update({ where: { id }, data: { apiKeyEnc } });
    const err = await expectAppError(syncIntegration(userId, id), "unauthorized");
    expect(err.message).toMatch(/API key/);
    expect(await toolNames(id)).toEqual(before);
    expect((await integration(id)).status).toBe("error");
  });
});

describe("pooled calls", () => {
  it("reuses one session for many calls (one initialize) and validates arguments before sending", async () => {
    const srv = await track(startMcpServer({ mode: "sessionful" }));
    const id = await makeIntegration(userId, srv.url);
    await syncIntegration(userId, id);
    const initsBefore = rpc(srv.requests, "initialize").length;
    const probesBefore = rpc(srv.requests, "server/discover").length;
    for (let i = 0; i < 5; i++) {
      const { result, latencyMs } = await callTool({ userId, integrationId: id }, "add", { a: i, b: 1 });
      expect(result.structuredContent).toEqual({ sum: i + 1 });
      expect(latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(rpc(srv.requests, "initialize").length - initsBefore).toBe(1);
    // the era verdict stored by the sync skips the server/discover probe
    expect(rpc(srv.requests, "server/discover").length - probesBefore).toBe(0);
    const callsBefore = rpc(srv.requests, "tools/call").length;
    const err = await expectAppError(
      callTool({ userId, integrationId: id }, "add", { a: "x" }),
      "invalid_arguments",
    );
    expect(err.message).toMatch(/a must be number/);
    expect(err.message).toMatch(/b is required/);
    expect(rpc(srv.requests, "tools/call").length).toBe(callsBefore);
    await expectAppError(callTool({ userId, integrationId: id }, "nope", {}), "not_found");
  });

  it("returns isError results as results and caps result size", async () => {
    for (const mode of ["modern", "sessionful"] as const) {
      const srv = await track(startMcpServer({ mode }));
      const id = await makeIntegration(userId, srv.url);
      await syncIntegration(userId, id);
      const { result } = await callTool({ userId, integrationId: id }, "fail", {});
      expect(result.isError).toBe(true);
      const err = await expectAppError(
        callTool({ userId, integrationId: id }, "big", { bytes: 9 * 1024 * 1024 }),
        "too_large",
      );
      expect(err.message, mode).toMatch(/8 MiB/);
      const ok = await callTool({ userId, integrationId: id }, "big", { bytes: 1000 });
      expect(ok.result.isError).toBeFalsy();
    }
  });

  it("an expired session re-initializes once and the call runs exactly once", async () => {
    const srv = await track(startMcpServer({ mode: "sessionful" }));
    const id = await makeIntegration(userId, srv.url);
    await syncIntegration(userId, id);
    await callTool({ userId, integrationId: id }, "echo", { text: "one" });
    const inits = rpc(srv.requests, "initialize").length;
    srv.expireSessions();
    const { result } = await callTool({ userId, integrationId: id }, "echo", { text: "two" });
    expect(JSON.stringify(result.content)).toContain("two");
    expect(rpc(srv.requests, "initialize").length - inits).toBe(1);
    expect(srv.calls.filter((c) => JSON.stringify(c).includes("two"))).toHaveLength(1);
  });

  it("times out a hanging tool, caps the timeout, and cancels; the session stays usable", async () => {
    const srv = await track(startMcpServer({ mode: "sessionful" }));
    const id = await makeIntegration(userId, srv.url);
    await syncIntegration(userId, id);
    const err = await expectAppError(
      callTool({ userId, integrationId: id }, "hang", {}, { timeoutMs: 400 }),
      "timeout",
    );
    // The deadline that ended it is the caller's 400 ms, not the 60 s default.
    expect(err.message).toMatch(/"hang" did not finish within 400 ms/);
    await waitFor(() => rpc(srv.requests, "notifications/cancelled").length > 0, {
      what: "notifications/cancelled",
    });
    const { result } = await callTool({ userId, integrationId: id }, "echo", { text: "after" });
    expect(JSON.stringify(result.content)).toContain("after");
    expect(effectiveTimeout(10 * 60_000)).toBe(300_000);
    expect(effectiveTimeout(undefined)).toBe(60_000);
  });

  it("list_changed on an open session triggers an automatic re-sync", async () => {
    for (const mode of ["sessionful", "modern"] as const) {
      const srv = await track(startMcpServer({ mode }));
      const id = await makeIntegration(userId, srv.url);
      await syncIntegration(userId, id);
      await callTool({ userId, integrationId: id }, "echo", { text: "open" });
      // list_changed reaches only a GET stream / listen subscription that is already open: the change is
      // announced again until a re-sync shows it (the engine re-syncs only when told).
      const pushed = `pushed_${mode}`;
      srv.addTool(pushed);
      let announced = 0;
      await waitFor(
        async () => {
          if ((await toolNames(id)).includes(pushed)) return true;
          srv.setDescription(pushed, `announced ${++announced}`);
          return false;
        },
        { intervalMs: 1000, what: `the pushed tool (${mode})` },
      );
    }
  });

  it("sessions are per user and dropSession/closeAll close them", async () => {
    const srv = await track(startMcpServer({ mode: "sessionful" }));
    const other = await makeUser();
    const a = await makeIntegration(userId, srv.url);
    const b = await makeIntegration(other, srv.url);
    await syncIntegration(userId, a);
    await syncIntegration(other, b);
    const inits = rpc(srv.requests, "initialize").length;
    await callTool({ userId, integrationId: a }, "whoami", {});
    const { result } = await callTool({ userId: other, integrationId: b }, "whoami", {});
    expect(JSON.stringify(result.content)).toContain(await publicUserId(other));
    expect(rpc(srv.requests, "initialize").length - inits).toBe(2);
    const open = srv.sessionCount();
    await dropSession(userId, a);
    expect(srv.sessionCount()).toBe(open - 1);
    await closeAll();
    expect(poolSize()).toBe(0);
  });

  it("closes idle sessions", async () => {
    configurePool({ idleMs: 200 });
    try {
      const srv = await track(startMcpServer({ mode: "sessionful" }));
      const id = await makeIntegration(userId, srv.url);
      await syncIntegration(userId, id);
      await callTool({ userId, integrationId: id }, "echo", { text: "x" });
      expect(srv.sessionCount()).toBe(1);
      await waitFor(() => srv.sessionCount() === 0, { what: "the idle session closing" });
    } finally {
      configurePool({ idleMs: 5 * 60_000 });
    }
  });
});

describe("doctor", () => {
  it("walks every step for a working server", async () => {
    const srv = await track(startMcpServer({ apiKey: "dk" }));
    const id = await makeIntegration(userId, srv.url, "dk");
    const steps = await runDoctor(userId, id);
    expect(steps.map((s) => s.id)).toEqual([
      "url",
      "dns",
      "egress",
      "transport",
      "protocol",
      "auth",
      "tools",
    ]);
    expect(steps.every((s) => s.status === "ok" || s.status === "warn")).toBe(true);
  });

  it("stops at the failing step with a hint", async () => {
    const bad = await runDoctorForUrl({ userId, url: "ftp://example.com/x" });
    expect(bad[0]).toMatchObject({ id: "url", status: "fail" });
    expect(bad.slice(1).every((s) => s.status === "skip")).toBe(true);
    const srv = await track(startMcpServer({ apiKey: "dk2" }));
    const noKey = await runDoctorForUrl({ userId, url: srv.url });
    const auth = noKey.find((s) => s.id === "auth")!;
    expect(auth.status).toBe("fail");
    expect(auth.hint).toMatch(/API key|OAuth/);
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "0" });
    const blocked = await runDoctorForUrl({ userId, url: srv.url });
    expect(blocked.find((s) => s.id === "egress")).toMatchObject({ status: "fail" });
    expect(srv.requests.filter((r) => r.at > 0).length).toBeGreaterThan(0);
  });
});
