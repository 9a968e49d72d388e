// URL policy for authorization-server metadata and the discovery checks run before anything is used.
import type { OAuthDiscoveryState } from "@modelcontextprotocol/client";
import { beforeEach, describe, expect, it } from "vitest";
import { setEnvForProcess } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { describeOAuthError } from "@/lib/oauth/errors";
import { assertSafeOAuthUrl, isLoopbackHost } from "@/lib/oauth/net";
import {
  machineGrant,
  machineTokenRequest,
  validateDiscovery,
  withLegacyEndpoints,
} from "@/lib/oauth/provider";

const KEYS = `u1:${Buffer.alloc(32, 1).toString("base64")}`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof AppError ? e.code : "not-an-app-error";
  }
}

beforeEach(() => {
  setEnvForProcess({ SESSION_SECRET: "s".repeat(32), ENCRYPTION_KEYS: KEYS, ALLOW_PRIVATE_NETWORK: "0" });
});

describe("assertSafeOAuthUrl", () => {
  it("accepts https and rejects other schemes, credentials and garbage", () => {
    expect(assertSafeOAuthUrl("https://as.example/token", "token endpoint").host).toBe("as.example");
    for (const bad of [
      "javascript:alert(1)",
      "data:text/html,x",
      "file:///etc/passwd",
      "ftp://as.example/x",
      "https://user:pw@as.example/token",
      "http://as.example/token",
      "not a url",
      42,
    ]) {
      expect(
        codeOf(() => assertSafeOAuthUrl(bad, "endpoint")),
        String(bad),
      ).toBe("unsafe_metadata");
    }
  });

  it("allows plain http only for loopback, and only when private networks are allowed", () => {
    expect(codeOf(() => assertSafeOAuthUrl("http://127.0.0.1:8080/token", "endpoint"))).toBe(
      "unsafe_metadata",
    );
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" });
    expect(codeOf(() => assertSafeOAuthUrl("http://127.0.0.1:8080/token", "endpoint"))).toBeUndefined();
    expect(codeOf(() => assertSafeOAuthUrl("http://localhost/token", "endpoint"))).toBeUndefined();
    expect(codeOf(() => assertSafeOAuthUrl("http://10.0.0.5/token", "endpoint"))).toBe("unsafe_metadata");
    expect(isLoopbackHost("[::1]")).toBe(true);
    expect(isLoopbackHost("127.evil.example")).toBe(false);
  });
});

describe("validateDiscovery", () => {
  const good = (): OAuthDiscoveryState => ({
    authorizationServerUrl: "https://as.example",
    resourceMetadata: { resource: "https://mcp.example/mcp", authorization_servers: ["https://as.example"] },
    authorizationServerMetadata: {
      issuer: "https://as.example",
      authorization_endpoint: "https://as.example/authorize",
      token_endpoint: "https://as.example/token",
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
    },
  });
  const check = (s: OAuthDiscoveryState, preIssuer?: string) =>
    codeOf(() =>
      validateDiscovery(s, "https://mcp.example/mcp", {
        preRegistered: preIssuer
          ? { source: "template", rowId: "t", clientId: "c", issuer: preIssuer }
          : undefined,
      }),
    );

  it("accepts consistent metadata", () => {
    expect(check(good())).toBeUndefined();
    expect(check(good(), "https://as.example")).toBeUndefined();
  });

  it("refuses missing metadata, missing S256, unsafe endpoints, foreign resources and rebound issuers", () => {
    expect(check({ ...good(), authorizationServerMetadata: undefined })).toBe("no_metadata");
    const plain = good();
    plain.authorizationServerMetadata!.code_challenge_methods_supported = ["plain"];
    expect(check(plain)).toBe("pkce_unsupported");
    const absent = good();
    delete absent.authorizationServerMetadata!.code_challenge_methods_supported;
    expect(check(absent)).toBe("pkce_unsupported");
    const insecure = good();
    insecure.authorizationServerMetadata!.token_endpoint = "http://as.example/token";
    expect(check(insecure)).toBe("unsafe_metadata");
    const revocation = good();
    (revocation.authorizationServerMetadata as Record<string, unknown>).revocation_endpoint =
      "https://u:p@as.example/revoke";
    expect(check(revocation)).toBe("unsafe_metadata");
    const foreign = good();
    foreign.resourceMetadata!.resource = "https://other.example/mcp";
    expect(check(foreign)).toBe("resource_mismatch");
    expect(check(good(), "https://old-as.example")).toBe("issuer_mismatch");
  });
});

describe("issuer echo and 2025-03-26 servers", () => {
  const meta = (issuer: string) => ({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    response_types_supported: ["code"],
    code_challenge_methods_supported: ["S256"],
  });
  const check = (s: OAuthDiscoveryState) => codeOf(() => validateDiscovery(s, "https://mcp.example/mcp", {}));

  it("requires the issuer to echo the metadata URL when the server publishes protected-resource metadata", () => {
    const prm = { resource: "https://mcp.example/mcp", authorization_servers: ["https://as.example/"] };
    const at = (issuer: string): OAuthDiscoveryState => ({
      authorizationServerUrl: "https://as.example/",
      resourceMetadata: prm,
      authorizationServerMetadata: meta(issuer),
    });
    expect(check(at("https://as.example"))).toBeUndefined();
    expect(check(at("https://as.example/tenant"))).toBe("issuer_mismatch");
    expect(check(at("https://evil.example"))).toBe("issuer_mismatch");
  });

  it("accepts a same-origin issuer only from a server without protected-resource metadata", () => {
    const legacy = (issuer: string): OAuthDiscoveryState => ({
      authorizationServerUrl: "https://mcp.example/",
      authorizationServerMetadata: meta(issuer),
    });
    expect(check(legacy("https://mcp.example/oauth"))).toBeUndefined();
    expect(check(legacy("https://as.example"))).toBe("issuer_mismatch");
  });

  it("uses the default endpoints of a server with no metadata at all, unless OAUTH_LEGACY_ENDPOINTS=0", () => {
    const bare: OAuthDiscoveryState = { authorizationServerUrl: "https://mcp.example/" };
    const filled = withLegacyEndpoints(bare);
    expect(filled.authorizationServerMetadata).toMatchObject({
      issuer: "https://mcp.example/",
      authorization_endpoint: "https://mcp.example/authorize",
      token_endpoint: "https://mcp.example/token",
      registration_endpoint: "https://mcp.example/register",
      code_challenge_methods_supported: ["S256"],
    });
    expect(check(filled)).toBeUndefined();
    // A newer server that names an authorization server must publish its metadata.
    const named = { ...bare, resourceMetadata: { resource: "https://mcp.example/mcp" } };
    expect(withLegacyEndpoints(named)).toBe(named);
    setEnvForProcess({ OAUTH_LEGACY_ENDPOINTS: "0" });
    expect(withLegacyEndpoints(bare)).toBe(bare);
    expect(check(withLegacyEndpoints(bare))).toBe("no_metadata");
    setEnvForProcess({ OAUTH_LEGACY_ENDPOINTS: undefined });
  });
});

describe("machine-to-machine authorization servers", () => {
  const machine = (): OAuthDiscoveryState => ({
    authorizationServerUrl: "https://as.example",
    authorizationServerMetadata: {
      issuer: "https://as.example",
      authorization_endpoint: "https://as.example/authorize",
      token_endpoint: "https://as.example/token",
      response_types_supported: ["code"],
      grant_types_supported: ["client_credentials"],
    },
  });
  const pre = { source: "template" as const, rowId: "t", clientId: "c", clientSecret: "s" };

  it("uses client credentials (no PKCE needed) only with a pre-registered secret, else says what is needed", () => {
    expect(machineGrant(machine().authorizationServerMetadata, { preRegistered: pre })).toBe(true);
    expect(
      codeOf(() => validateDiscovery(machine(), "https://mcp.example/mcp", { preRegistered: pre })),
    ).toBe(undefined);
    expect(codeOf(() => validateDiscovery(machine(), "https://mcp.example/mcp", {}))).toBe(
      "machine_client_needed",
    );
    const both = machine();
    both.authorizationServerMetadata!.grant_types_supported = ["authorization_code", "client_credentials"];
    expect(machineGrant(both.authorizationServerMetadata, { preRegistered: pre })).toBe(false);
    expect(machineTokenRequest("a b").toString()).toBe("grant_type=client_credentials&scope=a+b");
  });
});

describe("describeOAuthError", () => {
  it("maps known codes and never echoes unknown input", () => {
    expect(describeOAuthError("access_denied")).toMatch(/denied/);
    expect(describeOAuthError("<script>alert(1)</script>")).toBe("Connecting with OAuth failed. Try again.");
  });
});
