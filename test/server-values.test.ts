// Values a server or the network hands back, as a person adding an integration meets them through the API:
// an Mcp-Session-Id that is oversized or not visible ASCII is refused with a clear error and never sent back
// (docs/security.md §17); a name that resolves to an internal address is refused without the address
// (docs/security.md §12) — in the error, the stored status and the Doctor — while admins' Doctor names it.
import dns from "node:dns";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { POST as createRoute } from "@/app/api/v1/integrations/route";
import { GET as getRoute } from "@/app/api/v1/integrations/[id]/route";
import { POST as doctorRoute } from "@/app/api/v1/integrations/[id]/doctor/route";
import { POST as callRoute } from "@/app/api/v1/integrations/[id]/tools/[name]/call/route";
import { getDb } from "@/lib/db";
import { setEnvForProcess } from "@/lib/env";
import { closeAll } from "@/lib/mcp/pool";
import { startHostileServer, startMcpServer, type FixtureHandle } from "./fixtures/mcp-servers";
import { makeUserWithToken, textOf } from "./agent-helpers";

type Step = { id: string; status: string; detail: string; hint?: string };
type Created = {
  integration: { id: string; status: string; lastError?: string | null };
  error?: { code: string; message: string };
};

const BASE = "http://localhost:3999/api/v1/integrations";
const servers: FixtureHandle[] = [];
let token: string;
let adminToken: string;

beforeAll(async () => {
  // The first account of a database is its admin; the second is a person like any other.
  const admin = await makeUserWithToken("values-admin");
  const user = await makeUserWithToken("values");
  const db = await getDb();
  await db.user.update({ where: { id: admin.user.id }, data: { role: "admin" } });
  await db.user.update({ where: { id: user.user.id }, data: { role: "user" } });
  adminToken = admin.token;
  token = user.token;
});

afterEach(() => setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" }));

afterAll(async () => {
  await closeAll();
  await Promise.all(servers.map((s) => s.close()));
});

const auth = (t: string) => ({ authorization: `Bearer ${t}`, "content-type": "application/json" });
const ctx = (params: Record<string, string>) => ({ params: Promise.resolve(params) });
let n = 0;

async function create(url: string, who = token): Promise<{ status: number; body: Created }> {
  const res = await createRoute(
    new Request(BASE, { method: "POST", headers: auth(who), body: JSON.stringify({ name: `v${++n}`, url }) }),
    ctx({}),
  );
  return { status: res.status, body: await res.json() };
}

async function stored(id: string, who = token) {
  const res = await getRoute(new Request(`${BASE}/${id}`, { headers: auth(who) }), ctx({ id }));
  return (await res.json()).integration as { status: string; lastError: string | null };
}

async function doctor(id: string, who = token): Promise<Step[]> {
  const res = await doctorRoute(
    new Request(`${BASE}/${id}/doctor`, { method: "POST", headers: auth(who) }),
    ctx({ id }),
  );
  return (await res.json()).steps;
}

describe("Mcp-Session-Id from the server", () => {
  const refused: [string, string, RegExp][] = [
    ["10 KiB long", "s".repeat(10 * 1024), /10240 characters long/],
    ["257 characters", "x".repeat(257), /257 characters long/],
    ["with a space", "sid with space", /not visible ASCII/],
    ["with a control character", "abc\tdef", /not visible ASCII/],
  ];

  it.each(refused)("%s is refused with a clear error and never sent back", async (_what, sessionId, why) => {
    const fx = await startHostileServer("odd-session-id", { sessionId });
    servers.push(fx);
    const { body } = await create(fx.url);
    expect(body.error?.code).toBe("bad_session_id");
    expect(body.error?.message).toMatch(why);
    expect(body.error?.message).toContain("1–256 visible ASCII characters");
    expect(body.error?.message).not.toContain(sessionId);
    const row = await stored(body.integration.id);
    expect(row.status).toBe("error");
    expect(row.lastError).toBe(body.error?.message);
    // The value went no further: no request ever carried it.
    expect(fx.requests.some((r) => r.headers["mcp-session-id"] !== undefined)).toBe(false);
    const steps = await doctor(body.integration.id);
    expect(steps.find((s) => s.id === "protocol")).toMatchObject({
      status: "fail",
      detail: body.error?.message,
    });
  });

  it("accepts 256 visible ASCII characters and sends them back", async () => {
    const sessionId = `${"!~".repeat(127)}ok`;
    const fx = await startHostileServer("odd-session-id", { sessionId });
    servers.push(fx);
    const { body } = await create(fx.url);
    expect(body.error).toBeUndefined();
    expect(body.integration.status).toBe("connected");
    const id = body.integration.id;
    const res = await callRoute(
      new Request(`${BASE}/${id}/tools/echo/call`, {
        method: "POST",
        headers: auth(token),
        body: JSON.stringify({ arguments: { text: "fits" } }),
      }),
      ctx({ id, name: "echo" }),
    );
    expect(textOf((await res.json()).result)).toContain("fits");
    expect(fx.requests.some((r) => r.headers["mcp-session-id"] === sessionId)).toBe(true);
  });
});

describe("a name that resolves to an internal address", () => {
  let url: string;
  let internal: string[];

  beforeAll(async () => {
    const srv = await startMcpServer();
    servers.push(srv);
    url = srv.url.replace("127.0.0.1", "localhost");
    internal = (await dns.promises.lookup("localhost", { all: true })).map((a) => a.address);
    expect(internal.length).toBeGreaterThan(0);
  });

  const leaks = (text: string | null | undefined) => internal.filter((a) => (text ?? "").includes(a));

  it("is refused saying 'a private address', never which, in the answer and the stored error", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "0" });
    const { body } = await create(url);
    expect(body.error?.code).toBe("blocked_address");
    expect(body.error?.message).toMatch(
      /^localhost resolves to a private address; outbound requests there are blocked/,
    );
    expect(leaks(body.error?.message)).toEqual([]);
    const row = await stored(body.integration.id);
    expect(row.status).toBe("error");
    expect(leaks(row.lastError)).toEqual([]);
  });

  it("the Doctor names the address to admins only", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "0" });
    const mine = (await create(url)).body.integration.id;
    const steps = await doctor(mine);
    expect(steps.find((s) => s.id === "dns")?.detail).toBe("localhost → a private address");
    expect(steps.find((s) => s.id === "egress")).toMatchObject({
      status: "fail",
      detail: expect.stringContaining("localhost resolves to a private address"),
    });
    expect(steps.flatMap((s) => leaks(`${s.detail} ${s.hint ?? ""}`))).toEqual([]);

    const theirs = (await create(url, adminToken)).body.integration.id;
    const adminSteps = await doctor(theirs, adminToken);
    expect(leaks(adminSteps.find((s) => s.id === "dns")?.detail)).not.toEqual([]);
    expect(leaks(adminSteps.find((s) => s.id === "egress")?.detail)).not.toEqual([]);
  });

  it("when private networks are allowed, the Doctor's warning still doesn't name the address to a user", async () => {
    const mine = (await create(url)).body.integration.id;
    expect((await stored(mine)).status).toBe("connected");
    const steps = await doctor(mine);
    expect(steps.find((s) => s.id === "egress")).toMatchObject({ status: "warn" });
    expect(steps.flatMap((s) => leaks(s.detail))).toEqual([]);
  });

  it("an address the person typed is named (it is theirs already)", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "0" });
    const { body } = await create(url.replace("localhost", "127.0.0.1"));
    expect(body.error?.message).toMatch(/^127\.0\.0\.1 is a loopback address/);
  });
});
