import { describe, expect, it } from "vitest";
import { REDACTED, redactText } from "@/lib/redact";

const r = (s: string) => redactText(s);
const b64url = (n: number, seed = 7) =>
  Array.from({ length: n }, (_, i) => "AbC0dEf1GhI2jKl3MnO4pQr5StU6vWx7Yz8_-9"[(i * seed + 3) % 38]).join("");
const alnum = (n: number) => Array.from({ length: n }, (_, i) => "aB3dE5gH7jK9mN1pQ"[i % 17]).join("");

const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

describe("redactText", () => {
  it.each([
    [
      "an Authorization header echoed back",
      `Authorization: Bearer ${JWT}`,
      "Authorization: Bearer [redacted]",
    ],
    ["an opaque bearer token", "called with Bearer 8f3a9c0e2b7d41aa9e5f", "called with Bearer [redacted]"],
    ["a bare JWT", `id token ${JWT} issued`, "id token [redacted] issued"],
    ["basic credentials", "Basic dXNlcjpodW50ZXIy ok", "Basic [redacted] ok"],
    ["OpenAI key", `key sk-proj-${alnum(40)} end`, "key sk-proj-[redacted] end"],
    ["the attack run's sk-live key", `sk-live-${alnum(24)}`, "sk-live-[redacted]"],
    ["Anthropic key", `sk-ant-api03-${b64url(60)}`, "sk-ant-api03-[redacted]"],
    ["Stripe secret", `stripe=sk_live_${alnum(24)}.`, "stripe=sk_live_[redacted]"],
    ["Stripe publishable", `pk_live_${alnum(24)}`, "pk_live_[redacted]"],
    ["Stripe restricted", `rk_test_${alnum(24)}`, "rk_test_[redacted]"],
    ["GitHub classic", `ghp_${alnum(36)}`, "ghp_[redacted]"],
    ["GitHub OAuth", `(gho_${alnum(36)})`, "(gho_[redacted])"],
    ["GitHub app", `ghs_${alnum(36)}`, "ghs_[redacted]"],
    ["GitHub fine-grained", `github_pat_11ABCDEFG0${alnum(60)}`, "github_pat_[redacted]"],
    ["Slack bot", `xoxb-1234567890-${alnum(24)}`, "xoxb-[redacted]"],
    ["Slack user", `xoxp-1234567890-${alnum(24)}`, "xoxp-[redacted]"],
    ["AWS access key id", "aws AKIAIOSFODNN7EXAMPLE used", "aws AKIA[redacted] used"],
    ["Google API key", `AIza${b64url(35)}`, "AIza[redacted]"],
    ["GitLab", `glpat-${b64url(20)}`, "glpat-[redacted]"],
    ["npm", `//registry/:_authToken=npm_${alnum(36)}`, "//registry/:_authToken=npm_[redacted]"],
    ["Poke API token", `poke_${b64url(43)}`, "poke_[redacted]"],
    ["URL password", "postgres://app:s3cretPass@db:5432/x", "postgres://app:[redacted]@db:5432/x"],
    [
      "query parameter",
      "GET /cb?code=1&access_token=abc123def456&x=1",
      "GET /cb?code=1&access_token=[redacted]&x=1",
    ],
    ["JSON inside text", '{"client_secret": "c1i3nt-s3cr3t-v4lue"}', '{"client_secret": "[redacted]"}'],
    [
      "a private key",
      "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\nbye",
      "key:\n[redacted]\nbye",
    ],
  ])("%s", (_name, input, expected) => {
    expect(r(input)).toBe(expected);
  });

  it("keeps ordinary text, identifiers and prose about tokens", () => {
    for (const text of [
      "Bearer tokens are sent in the Authorization header.",
      "Use Bearer authentication.",
      "Basic information about the task",
      "task-force-abcdefghijklmnopqrstuvwxyz",
      "risk-assessment-methodology-v2",
      "max_tokens: 1000000",
      "author: Jane Smith",
      "npm_config_registry_url_for_this_project",
      "the poke_self_hosted database",
      "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
      "uuid 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    ]) {
      expect(r(text)).toBe(text);
    }
  });

  it("redacts every occurrence and is idempotent", () => {
    const text = `a ghp_${alnum(36)} b ghp_${alnum(36)} c Bearer x1y2z3w4v5`;
    const once = r(text);
    expect(once).toBe("a ghp_[redacted] b ghp_[redacted] c Bearer [redacted]");
    expect(r(once)).toBe(once);
    expect(once.split(REDACTED)).toHaveLength(4);
  });

  it("stays linear on hostile input", () => {
    const hostile = ["Bearer ", "eyJ", "sk-", "password=", "a://b:", "-----BEGIN PRIVATE KEY-----"]
      .map((p) => p + "A".repeat(20_000) + "\n")
      .join("")
      .repeat(20);
    // Completes (a catastrophic regex would not); the size cap of stored payloads is far below this.
    expect(r(hostile).length).toBeGreaterThan(0);
  });
});
