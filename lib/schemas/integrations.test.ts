import { describe, expect, it } from "vitest";
import {
  checkName,
  integrationCreateSchema,
  nameSchema,
  normalizeServerUrl,
  urlSchema,
} from "./integrations";

describe("normalizeServerUrl", () => {
  it.each([
    ["localhost:3402/mcp", "http://localhost:3402/mcp"],
    ["localhost/mcp", "http://localhost/mcp"],
    ["127.0.0.1:8080/mcp", "http://127.0.0.1:8080/mcp"],
    ["[::1]:3402/mcp", "http://[::1]:3402/mcp"],
    ["api.localhost:9000", "http://api.localhost:9000"],
    ["mcp.example.com/mcp", "https://mcp.example.com/mcp"],
    ["example.com:8443/mcp?x=1", "https://example.com:8443/mcp?x=1"],
    ["  localhost:3402/mcp  ", "http://localhost:3402/mcp"],
  ])("%s → %s", (typed, url) => {
    expect(normalizeServerUrl(typed)).toBe(url);
    expect(() => new URL(normalizeServerUrl(typed))).not.toThrow();
  });

  it.each(["https://localhost:3402/mcp", "http://example.com/mcp", "ftp://example.com/x", "HTTPS://A.B/c"])(
    "keeps a URL that names its scheme: %s",
    (typed) => expect(normalizeServerUrl(typed)).toBe(typed),
  );

  it("leaves text that is no host for the URL check to refuse", () => {
    expect(normalizeServerUrl("")).toBe("");
    expect(normalizeServerUrl("/mcp")).toBe("/mcp");
    expect(normalizeServerUrl("  ")).toBe("");
  });

  it("is what the schemas store", () => {
    expect(urlSchema.parse("localhost:3402/mcp")).toBe("http://localhost:3402/mcp");
    const parsed = integrationCreateSchema.parse({ name: "Local", url: "mcp.example.com/mcp" });
    expect(parsed.url).toBe("https://mcp.example.com/mcp");
    expect(urlSchema.safeParse("").success).toBe(false);
  });
});

describe("nameSchema", () => {
  it("explains the rule", () => {
    const r = nameSchema("integration").safeParse("bad/name");
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].message).toMatch(/letters, digits/);
    expect(nameSchema("integration").safeParse("Linear 2.0_x-y").success).toBe(true);
  });
});

describe("checkName (the form's live check)", () => {
  it.each(["Linear", "my server 2", "a.b_c-d", "bad/name", "-lead", "x".repeat(65), "über"])(
    "agrees with the server's rule: %s",
    (name) => {
      const server = nameSchema("integration").safeParse(name);
      expect(checkName(name) === undefined).toBe(server.success);
    },
  );
});
