// Stored tool-call payloads keep no credentials (docs/security.md §3): a person calls a tool through the
// REST API with a bearer token, a JWT and vendor keys inside ordinary text, the real fixture server echoes
// them back, and the activity API — and the database row behind it — show them redacted with the text
// around them kept. Real fixture server, real database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POST as callRoute } from "@/app/api/v1/integrations/[id]/tools/[name]/call/route";
import { GET as activityRoute } from "@/app/api/v1/activity/route";
import { updateIntegration } from "@/lib/data/integrations";
import type { SessionUser } from "@/lib/data/users";
import { getDb } from "@/lib/db";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { addIntegration, makeUserWithToken } from "./agent-helpers";

const APP = "http://localhost:3999";
const JWT =
  "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJ1c2VyLTQyIiwic2NvcGUiOiJhZG1pbiJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1oZXJl";
const SECRETS = {
  jwt: JWT,
  stripe: "sk_live_51Habc0DEF1ghi2JKL3mno4PQR",
  openai: "sk-live-9fKq2LmN4pR7sT1vW3xY5zA8",
  github: "ghp_0123456789abcdefghijABCDEFGHIJ012345",
  slack: "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
  aws: "AKIAIOSFODNN7EXAMPLE",
  password: "pg-pw-7731",
};
const TEXT = [
  `curl -H "Authorization: Bearer ${SECRETS.jwt}" https://api.example.com/v1`,
  `STRIPE_KEY=${SECRETS.stripe} and openai ${SECRETS.openai}`,
  `clone with ${SECRETS.github}, notify ${SECRETS.slack}, aws ${SECRETS.aws}`,
  `db postgres://app:${SECRETS.password}@db.internal:5432/main`,
].join("\n");

let srv: McpFixture;
let owner: { user: SessionUser; token: string; id: string };

beforeAll(async () => {
  srv = await startMcpServer();
  const a = await makeUserWithToken("redact");
  owner = { ...a, id: await addIntegration(a.user.id, "Echo", srv.url) };
  await updateIntegration(owner.user, owner.id, { storePayloads: true });
});

afterAll(async () => {
  await closeAll();
  await srv?.close();
});

const bearer = () => ({ authorization: `Bearer ${owner.token}` });

async function callEcho(text: string) {
  const res = await callRoute(
    new Request(`${APP}/api/v1/integrations/${owner.id}/tools/echo/call`, {
      method: "POST",
      headers: { ...bearer(), "content-type": "application/json" },
      body: JSON.stringify({ arguments: { text } }),
    }),
    { params: Promise.resolve({ id: owner.id, name: "echo" }) },
  );
  expect(res.status).toBe(200);
  return (await res.json()) as { result: { content: { type: string; text: string }[] } };
}

async function activity() {
  const res = await activityRoute(
    new Request(`${APP}/api/v1/activity?integration=${owner.id}`, { headers: bearer() }),
    { params: Promise.resolve({}) },
  );
  expect(res.status).toBe(200);
  return (await res.json()) as {
    calls: {
      tool: string;
      arguments: { text: string } | null;
      result: { content: { text: string }[] } | null;
    }[];
  };
}

describe("stored payloads", () => {
  it("the caller gets the server's answer as is; the activity API and the stored row show it redacted", async () => {
    const live = await callEcho(TEXT);
    expect(live.result.content[0].text).toBe(TEXT); // the live answer is the caller's own

    const [call] = (await activity()).calls;
    expect(call.tool).toBe("echo");
    const shown = [call.arguments?.text ?? "", call.result?.content[0].text ?? ""];
    for (const text of shown) {
      for (const [kind, secret] of Object.entries(SECRETS)) expect(text, kind).not.toContain(secret);
      // what surrounds each secret is kept, with a recognizable prefix
      expect(text).toContain('curl -H "Authorization: Bearer [redacted]" https://api.example.com/v1');
      expect(text).toContain("STRIPE_KEY=sk_live_[redacted] and openai sk-live-[redacted]");
      expect(text).toContain("clone with ghp_[redacted], notify xoxb-[redacted], aws AKIA[redacted]");
      expect(text).toContain("db postgres://app:[redacted]@db.internal:5432/main");
    }

    // Redacted when stored, not only when shown.
    const db = await getDb();
    const rows = await db.toolCall.findMany({ where: { userId: owner.user.id, integrationId: owner.id } });
    expect(rows.length).toBeGreaterThan(0);
    const stored = JSON.stringify(rows);
    for (const secret of Object.values(SECRETS)) expect(stored).not.toContain(secret);
    expect(stored).toContain("Bearer [redacted]");
  });

  it("ordinary text is stored unchanged", async () => {
    const plain =
      "Bearer tokens go in the Authorization header; max_tokens: 4096; commit 9fceb02d0ae598e95dc9";
    await callEcho(plain);
    const [call] = (await activity()).calls;
    expect(call.arguments?.text).toBe(plain);
    expect(call.result?.content[0].text).toBe(plain);
  });
});
