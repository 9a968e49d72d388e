// The running app answers /api/v1 requests through the direct path (server.ts → the route files' own
// handlers) once Next.js has loaded a route. Every answer must be what Next.js's routing gives for the same
// request: same status, body and headers. The same requests go to the app started with --next-routing and
// to the app started normally, on the same database; the second round runs twice (its first requests
// load the routes through Next.js, the repeat is served directly).
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "@/lib/data/api-tokens";
import { createIntegration } from "@/lib/data/integrations";
import { signUp } from "@/lib/data/users";
import { closeDb } from "@/lib/db";
import { spawnApp } from "./cli-helpers";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";

const ROOT = path.resolve(__dirname, "..");

type Answer = { status: number; headers: Record<string, string>; body: unknown };
type Case = {
  name: string;
  method: string;
  path: string;
  token?: string | null;
  body?: string;
  /** send the body chunked (no Content-Length) */
  chunked?: boolean;
};

// Framing and connection headers differ legitimately (a buffered body has a length, a piped one is chunked).
const FRAMING = new Set(["date", "content-length", "transfer-encoding", "connection", "keep-alive"]);

async function ask(base: string, c: Case, defaultToken: string): Promise<Answer> {
  const token = c.token === undefined ? defaultToken : c.token;
  const res = await fetch(`${base}${c.path}`, {
    method: c.method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(c.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body:
      c.chunked && c.body !== undefined
        ? new ReadableStream({
            start(ctl) {
              ctl.enqueue(new TextEncoder().encode(c.body));
              ctl.close();
            },
          })
        : c.body,
    ...(c.chunked ? { duplex: "half" } : {}),
  } as RequestInit);
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!FRAMING.has(k)) headers[k] = v;
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: compare the text */
  }
  // Measured per call; everything else must match exactly.
  if (body && typeof body === "object" && "latencyMs" in body) (body as { latencyMs: unknown }).latencyMs = 0;
  return { status: res.status, headers, body };
}

const hasBuild = fs.existsSync(path.join(ROOT, ".next", "BUILD_ID"));

describe.skipIf(!hasBuild)("API routes served directly answer exactly as through Next.js routing", () => {
  let mcp: McpFixture;
  let cases: Case[];
  let token: string;
  const viaNext: Answer[] = [];
  const loading: Answer[] = [];
  const direct: Answer[] = [];

  beforeAll(async () => {
    mcp = await startMcpServer({ tools: "basic" });
    const alice = await signUp({
      email: `alice-${Date.now()}@direct.test`,
      password: "correct horse battery",
      name: "a",
    });
    const bob = await signUp({
      email: `bob-${Date.now()}@direct.test`,
      password: "correct horse battery",
      name: "b",
    });
    token = (await createApiToken(alice, { name: "t", expiresInDays: undefined })).token;
    const bobToken = (await createApiToken(bob, { name: "t", expiresInDays: undefined })).token;
    const created = await createIntegration(alice, { name: "fixture", url: mcp.url });
    const id = created.integration.id;
    await closeDb(); // PGlite is single-process: the apps open it in turn
    const call = `/api/v1/integrations/${id}/tools/echo/call`;
    cases = [
      { name: "call", method: "POST", path: call, body: JSON.stringify({ arguments: { text: "hi" } }) },
      { name: "tool list", method: "GET", path: `/api/v1/integrations/${id}/tools` },
      { name: "one integration", method: "GET", path: `/api/v1/integrations/${id}` },
      { name: "integrations", method: "GET", path: "/api/v1/integrations?x=1" },
      { name: "me", method: "GET", path: "/api/v1/me" },
      { name: "no token", method: "POST", path: call, token: null, body: "{}" },
      { name: "bad token", method: "POST", path: call, token: "nope", body: "{}" },
      { name: "another user's integration", method: "POST", path: call, token: bobToken, body: "{}" },
      {
        name: "unknown tool",
        method: "POST",
        path: `/api/v1/integrations/${id}/tools/nope/call`,
        body: "{}",
      },
      {
        name: "invalid arguments",
        method: "POST",
        path: call,
        body: JSON.stringify({ arguments: { text: 5 } }),
      },
      { name: "invalid JSON", method: "POST", path: call, body: "{" },
      { name: "schema violation", method: "POST", path: call, body: JSON.stringify({ arguments: [] }) },
      {
        name: "too large",
        method: "POST",
        path: call,
        body: JSON.stringify({ arguments: { text: "x".repeat(1_100_000) } }),
      },
      {
        name: "encoded name",
        method: "POST",
        path: `/api/v1/integrations/${id}/tools/ec%68o/call`,
        body: JSON.stringify({ arguments: { text: "hi" } }),
      },
      {
        name: "chunked body",
        method: "POST",
        path: call,
        body: JSON.stringify({ arguments: { text: "chunked" } }),
        chunked: true,
      },
      { name: "method not served", method: "PUT", path: call, body: "{}" },
      { name: "unknown route", method: "GET", path: "/api/v1/nothing/here" },
    ];

    let app = await spawnApp(["--next-routing"]);
    try {
      for (const c of cases) viaNext.push(await ask(app.url, c, token));
    } finally {
      await app.stop();
    }
    app = await spawnApp([]);
    try {
      for (const c of cases) loading.push(await ask(app.url, c, token));
      for (const c of cases) direct.push(await ask(app.url, c, token));
    } finally {
      await app.stop();
    }
  }, 180_000);

  afterAll(async () => {
    await mcp?.close();
  });

  it("the call route works at all (sanity)", () => {
    expect(viaNext[0].status).toBe(200);
    expect(viaNext[0].body).toMatchObject({ result: { content: [{ type: "text", text: "hi" }] } });
    expect(viaNext[0].headers["x-frame-options"]).toBe("DENY");
    const chunked = cases.findIndex((c) => c.chunked);
    expect(direct[chunked].body).toMatchObject({ result: { content: [{ text: "chunked" }] } });
  });

  it("same status, body and headers for every request", () => {
    cases.forEach((c, i) => {
      expect({ case: c.name, ...loading[i] }).toEqual({ case: c.name, ...viaNext[i] });
      expect({ case: c.name, ...direct[i] }).toEqual({ case: c.name, ...viaNext[i] });
    });
  });
});
