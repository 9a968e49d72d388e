// Client ID metadata documents and the discovery order, against a minimal AS that advertises CIMD
// (the shared fixture AS doesn't). Only the start leg: its /authorize is never followed.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDb } from "@/lib/db";
import { env, setEnvForProcess } from "@/lib/env";
import { startAuthorization } from "@/lib/oauth/flow";
import { clientMetadataDocument } from "@/lib/oauth/web";
import { randomToken } from "@/lib/crypto";

type Seen = { method: string; path: string };
const seen: Seen[] = [];
let origin = "";
let server: http.Server;
let cimdSupported = true;
const originalAppUrl = env().APP_URL;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    seen.push({ method: req.method ?? "", path });
    req.resume();
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    if (path === "/mcp") {
      // The challenge names a non-default PRM location: discovery must use it, not the well-known path.
      return json(
        401,
        { error: "unauthorized" },
        {
          "www-authenticate": `Bearer resource_metadata="${origin}/custom/prm.json", scope="files:read"`,
        },
      );
    }
    if (path === "/custom/prm.json") {
      return json(200, { resource: `${origin}/mcp`, authorization_servers: [origin] });
    }
    if (path === "/.well-known/oauth-authorization-server") {
      return json(200, {
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        registration_endpoint: `${origin}/register`,
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["none", "client_secret_basic"],
        ...(cimdSupported ? { client_id_metadata_document_supported: true } : {}),
      });
    }
    if (path === "/register") {
      return json(201, { client_id: "dcr-client", redirect_uris: [`${env().APP_URL}/api/oauth/callback`] });
    }
    json(404, { error: "not_found" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  setEnvForProcess({ APP_URL: "https://poke.example" });
});

afterAll(async () => {
  setEnvForProcess({ APP_URL: originalAppUrl });
  await new Promise((r) => server.close(r));
});

async function integrationFor(): Promise<{ userId: string; id: string }> {
  const db = await getDb();
  const user = await db.user.create({ data: { email: `cimd-${Date.now()}-${Math.random()}@example.com` } });
  const row = await db.integration.create({ data: { userId: user.id, name: "cimd", url: `${origin}/mcp` } });
  return { userId: user.id, id: row.id };
}

describe("client ID metadata document", () => {
  it("serves the document at the URL used as client_id", async () => {
    const res = clientMetadataDocument();
    expect(res.status).toBe(200);
    const doc = await res.json();
    expect(doc).toMatchObject({
      client_id: "https://poke.example/api/oauth/client-metadata",
      client_name: "Poke",
      redirect_uris: ["https://poke.example/api/oauth/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    });
    expect(JSON.stringify(doc)).not.toMatch(/secret/i);
  });

  it("uses the document URL as client_id when the AS supports it (no registration)", async () => {
    seen.length = 0;
    cimdSupported = true;
    const { userId, id } = await integrationFor();
    const { authorizationUrl } = await startAuthorization({
      userId,
      integrationId: id,
      browserBinding: randomToken("", 32),
    });
    const url = new URL(authorizationUrl!);
    expect(url.searchParams.get("client_id")).toBe("https://poke.example/api/oauth/client-metadata");
    expect(url.searchParams.get("redirect_uri")).toBe("https://poke.example/api/oauth/callback");
    expect(url.searchParams.get("scope")).toBe("files:read"); // from the 401 challenge
    expect(url.searchParams.get("resource")).toBe(`${origin}/mcp`);
    expect(seen.some((s) => s.path === "/register")).toBe(false);
    // Discovery order: the challenge's resource_metadata, not the well-known path.
    expect(seen.map((s) => s.path)).toContain("/custom/prm.json");
    expect(seen.some((s) => s.path.startsWith("/.well-known/oauth-protected-resource"))).toBe(false);
    const db = await getDb();
    const client = await db.oAuthClient.findFirstOrThrow({ where: { integrationId: id } });
    expect(client).toMatchObject({ source: "cimd", issuer: origin, clientSecretEnc: null });
  });

  it("falls back to DCR when the AS doesn't advertise CIMD", async () => {
    seen.length = 0;
    cimdSupported = false;
    const { userId, id } = await integrationFor();
    const { authorizationUrl } = await startAuthorization({
      userId,
      integrationId: id,
      browserBinding: randomToken("", 32),
    });
    expect(new URL(authorizationUrl!).searchParams.get("client_id")).toBe("dcr-client");
    expect(seen.filter((s) => s.path === "/register")).toHaveLength(1);
  });
});
