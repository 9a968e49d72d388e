// An attacker adds integrations whose URLs hide loopback or the cloud metadata address inside IPv6
// (IPv4-compatible ::7f00:1, NAT64, 6to4, Teredo, …), or whose allowlisted host name resolves to the
// metadata address. Each is refused before any socket is opened (docs/security.md §12). The egress
// module's own connector is exercised; the only stand-in is the name lookup (the operating system's
// resolver can't be pointed at a test zone), and every outbound connection is observed through Node's
// `net.client.socket` diagnostics channel.
import dns from "node:dns";
import diagnostics from "node:diagnostics_channel";
import type net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { POST as createRoute } from "@/app/api/v1/integrations/route";
import { POST as doctorRoute } from "@/app/api/v1/integrations/[id]/doctor/route";
import { setEnvForProcess } from "@/lib/env";
import { closeAll } from "@/lib/mcp/pool";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { makeUserWithToken } from "./agent-helpers";

const APP = "http://localhost:3999";
let srv: McpFixture;
let port: string;
let attacker: { token: string };

// Every connection attempt this process makes to a port these tests aim at (the database's are not).
const connects: string[] = [];
const onSocket = (msg: unknown) => {
  const socket = (msg as { socket: net.Socket }).socket;
  socket.on("connectionAttempt", (ip: string, p: number) => {
    if ([80, 443, Number(port)].includes(p)) connects.push(ip);
  });
};

beforeAll(async () => {
  srv = await startMcpServer();
  port = new URL(srv.url).port;
  attacker = await makeUserWithToken("ssrf");
  diagnostics.subscribe("net.client.socket", onSocket);
});

afterEach(() => {
  vi.restoreAllMocks();
  setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1", EGRESS_ALLOWLIST: undefined });
});

afterAll(async () => {
  diagnostics.unsubscribe("net.client.socket", onSocket);
  await closeAll();
  await srv?.close();
});

let n = 0;
async function addIntegration(url: string) {
  const res = await createRoute(
    new Request(`${APP}/api/v1/integrations`, {
      method: "POST",
      headers: { authorization: `Bearer ${attacker.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `probe ${++n}`, url }),
    }),
    { params: Promise.resolve({}) },
  );
  expect(res.status).toBe(201);
  return (await res.json()) as {
    integration: { id: string; status: string };
    error?: { code: string; message: string };
  };
}

async function doctor(id: string) {
  const res = await doctorRoute(
    new Request(`${APP}/api/v1/integrations/${id}/doctor`, {
      method: "POST",
      headers: { authorization: `Bearer ${attacker.token}` },
    }),
    { params: Promise.resolve({ id }) },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { steps: { id: string; status: string; detail: string }[] }).steps;
}

describe("loopback hidden inside IPv6, production policy (no private networks)", () => {
  const forms = {
    "IPv4-compatible": "[::7f00:1]",
    "IPv4-compatible, dotted": "[::127.0.0.1]",
    "IPv4-translated": "[::ffff:0:7f00:1]",
    NAT64: "[64:ff9b::7f00:1]",
    "NAT64 local-use": "[64:ff9b:1::7f00:1]",
    "6to4": "[2002:7f00:1::1]",
    Teredo: "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
  };

  it.each(Object.entries(forms))("%s %s is refused before connecting", async (_form, host) => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "0" });
    const before = srv.requests.length;
    connects.length = 0;
    const out = await addIntegration(`http://${host}:${port}/mcp`);
    expect(out.error).toMatchObject({ code: "blocked_address", message: expect.stringMatching(/loopback/) });
    expect(out.integration.status).toBe("error");
    const steps = await doctor(out.integration.id);
    expect(steps.find((s) => s.id === "egress")).toMatchObject({ status: "fail" });
    expect(connects).toEqual([]);
    expect(srv.requests.length).toBe(before);
  });
});

describe("cloud metadata stays closed, whatever the settings", () => {
  const literals = [
    "169.254.169.254",
    "[::a9fe:a9fe]",
    "[::ffff:a9fe:a9fe]",
    "[::ffff:0:a9fe:a9fe]",
    "[64:ff9b::a9fe:a9fe]",
    "[2002:a9fe:a9fe::]",
    "[2001:0:4136:e378:8000:63bf:5601:5601]",
    "[fd00:ec2::254]",
    "0xa9fea9fe",
    "[::100.100.100.200]",
    "168.63.129.16",
  ];

  it("each literal is refused even when EGRESS_ALLOWLIST names it and private networks are allowed", async () => {
    setEnvForProcess({
      ALLOW_PRIVATE_NETWORK: "1",
      EGRESS_ALLOWLIST: literals.map((h) => `${new URL(`http://${h}/`).hostname}:80`).join(","),
    });
    for (const host of literals) {
      connects.length = 0;
      const out = await addIntegration(`http://${host}/latest/meta-data/`);
      expect({ host, error: out.error?.code, message: out.error?.message }).toEqual({
        host,
        error: "blocked_address",
        message: expect.stringMatching(/metadata.*always blocked/),
      });
      expect({ host, connects }).toEqual({ host, connects: [] });
    }
  });

  it("an allowlisted host name that resolves to the metadata address is refused at connect time", async () => {
    const real = dns.promises.lookup.bind(dns.promises);
    const answers: Record<string, { address: string; family: number }[]> = {
      "metadata.attacker.test": [{ address: "169.254.169.254", family: 4 }],
      "mapped.attacker.test": [{ address: "64:ff9b::a9fe:a9fe", family: 6 }],
      "mixed.attacker.test": [
        { address: "127.0.0.1", family: 4 },
        { address: "::a9fe:a9fe", family: 6 },
      ],
    };
    const before = srv.requests.length;
    vi.spyOn(dns.promises, "lookup").mockImplementation(((host: string, opts: dns.LookupAllOptions) =>
      answers[host] ? Promise.resolve(answers[host]) : real(host, opts)) as typeof dns.promises.lookup);
    setEnvForProcess({
      ALLOW_PRIVATE_NETWORK: "1",
      EGRESS_ALLOWLIST: Object.keys(answers)
        .map((h) => `${h}:${port}`)
        .join(","),
    });
    for (const host of Object.keys(answers)) {
      connects.length = 0;
      const out = await addIntegration(`http://${host}:${port}/mcp`);
      expect({ host, error: out.error?.code }).toEqual({ host, error: "blocked_address" });
      expect(out.error?.message).toMatch(/metadata/);
      expect({ host, connects }).toEqual({ host, connects: [] });
    }
    expect(srv.requests.length).toBe(before);
  });

  it("the same allowlist still opens an ordinary loopback server (the observer sees that connection)", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "0", EGRESS_ALLOWLIST: `127.0.0.1:${port}` });
    connects.length = 0;
    const out = await addIntegration(srv.url);
    expect(out.error).toBeUndefined();
    expect(out.integration.status).toBe("connected");
    expect(connects).toContain("127.0.0.1");
  });
});
