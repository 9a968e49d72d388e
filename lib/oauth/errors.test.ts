// OAuth failures are classified from the error each request rejected with, never from what another
// request through the same fetch left behind.
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
} from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setEnvForProcess } from "@/lib/env";
import { classifyOAuthError } from "@/lib/oauth/errors";
import { createOAuthFetch } from "@/lib/oauth/net";

let server: http.Server;
let origin: string;
let refusedOrigin: string;
let release!: () => void;
const released = new Promise<void>((r) => (release = r));

beforeAll(async () => {
  setEnvForProcess({
    SESSION_SECRET: "unit-session-secret-0123456789abcdef",
    ENCRYPTION_KEYS: `u1:${Buffer.alloc(32, 1).toString("base64")}`,
    ALLOW_PRIVATE_NETWORK: "1",
    EGRESS_ALLOWLIST: undefined,
  });
  // Answers 401 to everything, once the test says so.
  server = http.createServer((_req, res) => {
    void released.then(() => res.writeHead(401, { "content-type": "text/plain" }).end("Unauthorized"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tmp = http.createServer();
  await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", r));
  refusedOrigin = `http://127.0.0.1:${(tmp.address() as AddressInfo).port}`;
  await new Promise((r) => tmp.close(r));
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("classifyOAuthError", () => {
  it("two concurrent failures through one OAuth fetch each keep their own cause", async () => {
    const fetchFn = createOAuthFetch();
    const answered401 = rejection(discoverOAuthProtectedResourceMetadata(`${origin}/mcp`, {}, fetchFn));
    const refused = await rejection(discoverAuthorizationServerMetadata(refusedOrigin, { fetchFn }));
    release(); // the 401 arrives after the refused connection failed
    expect(classifyOAuthError(refused)).toMatchObject({ code: "connection_refused" });
    const app = classifyOAuthError(await answered401);
    expect(app.code).toBe("oauth_failed");
    expect(app.message).toMatch(/HTTP 401/);
    // A later request's failure is its own too, not the earlier refusal.
    const again = await rejection(discoverOAuthProtectedResourceMetadata(`${origin}/mcp`, {}, fetchFn));
    expect(classifyOAuthError(again).message).toMatch(/HTTP 401/);
  });
});
