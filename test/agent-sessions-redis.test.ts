// 2025-era agent sessions that outlive their instance (docs/deploy.md "Agent sessions"): with Redis, the
// session's metadata and its streams' events are kept there. Here the instance "dies" by forgetting every
// session it held (no DELETE, nothing closed in Redis); the next request — served as by another instance —
// goes on in the same session without re-initializing, a stream resumes with Last-Event-ID, and an unknown
// session gets the spec's 404 at once.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { dropLocalLegacySessions } from "@/lib/agent/legacy-sessions";
import { setEnvForProcess } from "@/lib/env";
import { ENDPOINT, inProcessFetch, makeUserWithToken } from "./agent-helpers";

const prefix = `poke-test-as-${Math.random().toString(36).slice(2, 10)}:`;
const admin = new Redis("redis://127.0.0.1:6379");
let token: string;

beforeAll(async () => {
  setEnvForProcess({ REDIS_URL: "redis://127.0.0.1:6379", REDIS_PREFIX: prefix });
  ({ token } = await makeUserWithToken("survive"));
});

afterAll(async () => {
  await closeAgentEndpoint();
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  admin.disconnect();
});

const VERSION = "2025-11-25";
const send = (body: unknown, session?: string, extra: Record<string, string> = {}) =>
  inProcessFetch(ENDPOINT, {
    method: "POST",
    headers: {
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
      ...(session ? { "mcp-session-id": session, "mcp-protocol-version": VERSION } : {}),
      ...extra,
    },
    body: JSON.stringify(body),
  });

/** The events of an SSE body: id and parsed data (the priming event has empty data). */
function eventsOf(text: string) {
  return text
    .split(/\n\n/)
    .filter((e) => /^(id|data):/m.test(e))
    .map((e) => {
      const id = /^id: ?(.*)$/m.exec(e)?.[1];
      const data = /^data: ?(.*)$/m.exec(e)?.[1] ?? "";
      return { id, data: data ? (JSON.parse(data) as { id?: number; result?: unknown }) : undefined };
    });
}

async function initialize(): Promise<string> {
  const init = await send({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: "survivor", version: "1" } },
  });
  expect(init.status).toBe(200);
  const session = init.headers.get("mcp-session-id")!;
  await init.text();
  expect((await send({ jsonrpc: "2.0", method: "notifications/initialized" }, session)).status).toBe(202);
  return session;
}

describe("a 2025 session whose instance died", () => {
  it("goes on without re-initializing, on the same session id", async () => {
    const session = await initialize();
    dropLocalLegacySessions();
    const r = await send({ jsonrpc: "2.0", id: 2, method: "tools/list" }, session);
    expect(r.status).toBe(200);
    expect(r.headers.get("mcp-session-id")).toBe(session);
    const answer = eventsOf(await r.text()).find((e) => e.data?.id === 2);
    expect(answer?.data?.result).toHaveProperty("tools");
  });

  it("resumes a stream with Last-Event-ID: what was sent after that event is replayed", async () => {
    const session = await initialize();
    const r = await send({ jsonrpc: "2.0", id: 3, method: "tools/list" }, session);
    const events = eventsOf(await r.text());
    const priming = events.find((e) => e.data === undefined && e.id);
    expect(priming?.id).toBeTruthy();
    dropLocalLegacySessions();
    const resumed = await inProcessFetch(ENDPOINT, {
      method: "GET",
      headers: {
        accept: "text/event-stream",
        authorization: `Bearer ${token}`,
        "mcp-session-id": session,
        "mcp-protocol-version": VERSION,
        "last-event-id": priming!.id!,
      },
    });
    expect(resumed.status).toBe(200);
    const replayed = eventsOf(await resumed.text());
    expect(replayed.find((e) => e.data?.id === 3)?.data?.result).toHaveProperty("tools");
  });

  it("an ended or unknown session gets 404 at once on every instance", async () => {
    const session = await initialize();
    const del = await inProcessFetch(ENDPOINT, {
      method: "DELETE",
      headers: {
        authorization: `Bearer ${token}`,
        "mcp-session-id": session,
        "mcp-protocol-version": VERSION,
      },
    });
    expect(del.status).toBe(200);
    dropLocalLegacySessions();
    expect((await send({ jsonrpc: "2.0", id: 4, method: "tools/list" }, session)).status).toBe(404);
    expect((await send({ jsonrpc: "2.0", id: 5, method: "tools/list" }, "no-such-session")).status).toBe(404);
  });

  it("another user's token cannot pick up the session", async () => {
    const session = await initialize();
    dropLocalLegacySessions();
    const other = await makeUserWithToken("survive-other");
    const r = await inProcessFetch(ENDPOINT, {
      method: "POST",
      headers: {
        accept: "application/json, text/event-stream",
        "content-type": "application/json",
        authorization: `Bearer ${other.token}`,
        "mcp-session-id": session,
        "mcp-protocol-version": VERSION,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 6, method: "tools/list" }),
    });
    expect(r.status).toBe(404);
  });
});
