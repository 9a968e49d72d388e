import http from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { setEnvForProcess } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { mcpHeadersFor } from "@/lib/mcp/connect";
import {
  assertAllowedHeaderName,
  assertRedirectAllowed,
  createEgressFetch,
  resolveChecked,
  validateUserUrl,
} from "@/lib/net/egress";
import { classifyAddress, isAddressAllowed, parseIpLiteral } from "@/lib/net/ip-policy";

const base = {
  SESSION_SECRET: "unit-session-secret-0123456789abcdef",
  ENCRYPTION_KEYS: `u1:${Buffer.alloc(32, 1).toString("base64")}`,
  ALLOW_PRIVATE_NETWORK: "0",
  EGRESS_ALLOWLIST: undefined,
};
beforeAll(() => setEnvForProcess(base));
afterEach(() => setEnvForProcess(base));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof AppError ? e.code : `not-AppError: ${String(e)}`;
  }
  return undefined;
}

const none = { allowPrivate: false, allowlist: [] as string[] };
const priv = { allowPrivate: true, allowlist: [] as string[] };

describe("IP classification", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "carrierGradeNat"],
    ["169.254.1.1", "linkLocal"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["fe80::1", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
  ])("%s is blocked (%s)", (ip, range) => {
    const v = classifyAddress(ip);
    expect(v.range).toBe(range);
    expect(v.reason).toBeTruthy();
    expect(isAddressAllowed(v, ip, 80, none)).toBe(false);
  });

  it("public unicast addresses are allowed", () => {
    for (const ip of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"]) {
      const v = classifyAddress(ip);
      expect(v.reason).toBeUndefined();
      expect(isAddressAllowed(v, ip, 443, none)).toBe(true);
    }
  });

  it("unwraps IPv4-mapped IPv6 and the hex, octal and decimal IPv4 forms", () => {
    expect(classifyAddress("::ffff:127.0.0.1")).toMatchObject({ address: "127.0.0.1", range: "loopback" });
    expect(classifyAddress("::ffff:7f00:1")).toMatchObject({ address: "127.0.0.1", range: "loopback" });
    expect(classifyAddress("[::ffff:a9fe:a9fe]")).toMatchObject({ address: "169.254.169.254" });
    expect(parseIpLiteral("0x7f000001")).toBe("127.0.0.1");
    expect(parseIpLiteral("0x7f.1")).toBe("127.0.0.1");
    expect(parseIpLiteral("2130706433")).toBe("127.0.0.1");
    expect(parseIpLiteral("0177.0.0.1")).toBe("127.0.0.1");
    expect(parseIpLiteral("example.com")).toBeUndefined();
    expect(classifyAddress("0x0a000001").range).toBe("private");
    expect(classifyAddress("3232235777").range).toBe("private"); // 192.168.1.1
  });

  it("metadata addresses stay blocked with ALLOW_PRIVATE_NETWORK and with an exact allowlist entry", () => {
    for (const ip of ["169.254.169.254", "fd00:ec2::254"]) {
      const v = classifyAddress(ip);
      expect(v.reason).toMatch(/metadata/);
      expect(isAddressAllowed(v, ip, 80, priv)).toBe(false);
      const listed = { allowPrivate: true, allowlist: [`${ip.includes(":") ? `[${ip}]` : ip}:80`] };
      expect(isAddressAllowed(v, ip, 80, listed)).toBe(false);
    }
  });

  it("ALLOW_PRIVATE_NETWORK opens loopback/private but not unspecified or multicast", () => {
    expect(isAddressAllowed(classifyAddress("127.0.0.1"), "localhost", 3000, priv)).toBe(true);
    expect(isAddressAllowed(classifyAddress("10.1.2.3"), "nas", 80, priv)).toBe(true);
    expect(isAddressAllowed(classifyAddress("0.0.0.0"), "0.0.0.0", 80, priv)).toBe(false);
    expect(isAddressAllowed(classifyAddress("224.0.0.1"), "x", 80, priv)).toBe(false);
  });

  it("the allowlist matches the exact host:port, case-insensitively, IPv6 bracketed", () => {
    const lo = classifyAddress("127.0.0.1");
    const list = { allowPrivate: false, allowlist: ["LocalHost:3000", "[::1]:8080"] };
    expect(isAddressAllowed(lo, "localhost", 3000, list)).toBe(true);
    expect(isAddressAllowed(lo, "localhost", 3001, list)).toBe(false);
    expect(isAddressAllowed(classifyAddress("::1"), "::1", 8080, list)).toBe(true);
  });
});

describe("resolveChecked (connect-time policy)", () => {
  it("checks every resolved address of a name and IP literals in any form", async () => {
    const addrs = await resolveChecked("localhost", 80);
    expect(addrs.length).toBeGreaterThan(0);
    expect(addrs.every((a) => !a.allowed)).toBe(true);
    const [hex] = await resolveChecked("0x7f.1", 80);
    expect(hex).toMatchObject({ address: "127.0.0.1", allowed: false });
  });

  it("fails closed on DNS errors", async () => {
    await expect(resolveChecked("no-such-host.invalid", 80)).rejects.toMatchObject({ code: "dns_failed" });
  });
});

describe("validateUserUrl", () => {
  it("accepts http(s) URLs", () => {
    expect(validateUserUrl("  https://example.com/mcp ").href).toBe("https://example.com/mcp");
    expect(validateUserUrl("http://10.0.0.2:8080/sse").port).toBe("8080");
  });
  it.each([
    ["", "bad_url"],
    ["example.com/mcp", "bad_url"],
    ["ftp://example.com/", "bad_url"],
    ["javascript:alert(1)", "bad_url"],
    ["file:///etc/passwd", "bad_url"],
    ["https://user:pass@example.com/mcp", "bad_url"],
    ["https://token@example.com/mcp", "bad_url"],
    ["https://example.com/mcp#frag", "bad_url"],
    ["https://example.com/mcp#", "bad_url"],
  ])("rejects %j", (raw, expected) => {
    expect(code(() => validateUserUrl(raw))).toBe(expected);
  });
  it("explains what to do", () => {
    expect(() => validateUserUrl("https://u:p@example.com")).toThrow(/API key field/);
  });
});

describe("reserved header names", () => {
  it.each([
    "Host",
    "content-length",
    "Transfer-Encoding",
    "CONNECTION",
    "Cookie",
    "Mcp-Session-Id",
    "mcp-protocol-version",
    "X-Poke-User-Id",
    "x-poke-user-id",
  ])("%s is reserved", (name) => {
    expect(code(() => assertAllowedHeaderName(name))).toBe("reserved_header");
  });
  it("Authorization is reserved only when OAuth manages it", () => {
    expect(code(() => assertAllowedHeaderName("Authorization"))).toBeUndefined();
    expect(code(() => assertAllowedHeaderName("authorization", { oauthManaged: true }))).toBe(
      "reserved_header",
    );
  });
  it("accepts ordinary names and rejects invalid ones", () => {
    expect(code(() => assertAllowedHeaderName("X-Api-Version"))).toBeUndefined();
    expect(code(() => assertAllowedHeaderName("Bad Header"))).toBe("bad_header");
    expect(code(() => assertAllowedHeaderName("x\r\ny"))).toBe("bad_header");
  });
});

describe("redirect rules", () => {
  const u = (s: string) => new URL(s);
  it("never downgrades https → http, for any purpose", () => {
    for (const p of ["mcp", "oauth", "metadata"] as const) {
      expect(code(() => assertRedirectAllowed(u("https://a.com/x"), u("http://a.com/y"), p, 1))).toBe(
        "redirect_refused",
      );
    }
  });
  it("MCP and token requests never leave the origin; metadata may", () => {
    expect(code(() => assertRedirectAllowed(u("https://a.com/x"), u("https://b.com/x"), "mcp", 1))).toBe(
      "redirect_refused",
    );
    expect(code(() => assertRedirectAllowed(u("https://a.com/x"), u("https://b.com/x"), "oauth", 1))).toBe(
      "redirect_refused",
    );
    expect(code(() => assertRedirectAllowed(u("https://a.com/x"), u("https://a.com:8443/x"), "mcp", 1))).toBe(
      "redirect_refused",
    );
    expect(
      code(() => assertRedirectAllowed(u("https://a.com/x"), u("https://a.com/y"), "mcp", 1)),
    ).toBeUndefined();
    expect(
      code(() => assertRedirectAllowed(u("https://a.com/x"), u("https://b.com/x"), "metadata", 1)),
    ).toBeUndefined();
  });
  it("caps the number of hops and refuses odd targets", () => {
    expect(code(() => assertRedirectAllowed(u("https://a.com/x"), u("https://a.com/y"), "metadata", 4))).toBe(
      "redirect_refused",
    );
    expect(
      code(() => assertRedirectAllowed(u("https://a.com/x"), u("https://u:p@a.com/y"), "metadata", 1)),
    ).toBe("redirect_refused");
  });
});

describe("MCP header scoping", () => {
  const server = new URL("https://mcp.example.com/mcp");
  const h = mcpHeadersFor(server, "user-1", "sk-1", false);
  it("adds the user id and key only for the MCP origin", () => {
    expect(h(new URL("https://mcp.example.com/mcp"), { method: "POST" })).toEqual({
      "X-Poke-User-Id": "user-1",
      Authorization: "Bearer sk-1",
    });
    expect(h(new URL("https://mcp.example.com/messages?sessionId=1"), { method: "POST" })).toBeTruthy();
    expect(h(new URL("https://auth.example.com/token"), { method: "POST" })).toBeUndefined();
    expect(h(new URL("http://mcp.example.com/mcp"), { method: "POST" })).toBeUndefined();
    expect(h(new URL("https://mcp.example.com/.well-known/oauth-protected-resource"), {})).toBeUndefined();
    expect(h(new URL("https://mcp.example.com/token"), { body: new URLSearchParams("a=b") })).toBeUndefined();
  });
  it("lets OAuth manage Authorization when a provider is present", () => {
    const o = mcpHeadersFor(server, "user-1", "sk-1", true);
    expect(o(server, {})).toEqual({ "X-Poke-User-Id": "user-1" });
  });
});

describe("createEgressFetch against a local server", () => {
  let srv: http.Server;
  let origin: string;
  let other: http.Server;
  let otherOrigin: string;
  const seen: { url?: string; headers: http.IncomingHttpHeaders }[] = [];
  beforeAll(async () => {
    other = http.createServer((req, res) => {
      seen.push({ url: `other${req.url}`, headers: req.headers });
      res.end("other");
    });
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    otherOrigin = `http://localhost:${(other.address() as AddressInfo).port}`;
    srv = http.createServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      if (req.url === "/big")
        return void res.writeHead(200, { "content-type": "application/json" }).end("x".repeat(5000));
      if (req.url === "/declared")
        return void res
          .writeHead(200, { "content-type": "application/json", "content-length": "99999" })
          .end();
      if (req.url === "/small") {
        const body = JSON.stringify({ ok: true, pad: "z".repeat(500) });
        return void res
          .writeHead(200, { "content-type": "application/json", "content-length": String(body.length) })
          .end(body);
      }
      if (req.url === "/bomb") {
        // 60 compressed bytes that decode to 100 KB: the declared length is not what the cap measures.
        const body = gzipSync("b".repeat(100_000));
        return void res
          .writeHead(200, {
            "content-type": "application/json",
            "content-encoding": "gzip",
            "content-length": String(body.length),
          })
          .end(body);
      }
      if (req.url === "/gzip") {
        const body = gzipSync(JSON.stringify({ ok: true }));
        return void res
          .writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" })
          .end(body);
      }
      if (req.url === "/echo") {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        return void req.on("end", () =>
          res.end(
            JSON.stringify({ type: req.headers["content-type"], body: Buffer.concat(chunks).toString() }),
          ),
        );
      }
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "application/json" });
        const tick = setInterval(() => res.write(" "), 10);
        return void res.on("close", () => clearInterval(tick));
      }
      if (req.url === "/sse-sized") {
        const body = 'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n';
        return void res
          .writeHead(200, { "content-type": "text/event-stream", "content-length": String(body.length) })
          .end(body);
      }
      if (req.url === "/sse-stream") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const tick = setInterval(
          () => res.write('event: message\ndata: {"jsonrpc":"2.0","method":"ping"}\n\n'),
          2,
        );
        return void res.on("close", () => clearInterval(tick));
      }
      if (req.url === "/reset") {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"partial":');
        return void setTimeout(() => res.socket?.destroy(), 20);
      }
      if (req.url === "/sse") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(`event: message\ndata: {"jsonrpc":"2.0","id":7,"result":{"x":"${"y".repeat(5000)}"}}\n\n`);
        return void res.end('event: message\ndata: {"jsonrpc":"2.0","method":"ok"}\n\n');
      }
      if (req.url === "/same") return void res.writeHead(307, { location: "/final" }).end();
      if (req.url === "/cross") return void res.writeHead(302, { location: `${otherOrigin}/x` }).end();
      if (req.url === "/slow") return; // never answers
      res.end("ok");
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    origin = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    srv.close();
    other.close();
  });

  it("blocks loopback by default, allows it with ALLOW_PRIVATE_NETWORK or an exact allowlist entry", async () => {
    const f = createEgressFetch({ purpose: "metadata" });
    await expect(f(`${origin}/`)).rejects.toMatchObject({ code: "blocked_address" });
    const port = new URL(origin).port;
    await expect(f(`http://localhost:${port}/`)).rejects.toMatchObject({ code: "blocked_address" });
    await expect(f(`http://0x7f.0.0.1:${port}/`)).rejects.toMatchObject({ code: "blocked_address" });
    await expect(f(`http://[::ffff:127.0.0.1]:${port}/`)).rejects.toMatchObject({ code: "blocked_address" });
    setEnvForProcess({ EGRESS_ALLOWLIST: `127.0.0.1:${port}` });
    expect(await (await f(`${origin}/`)).text()).toBe("ok");
    setEnvForProcess({ EGRESS_ALLOWLIST: undefined, ALLOW_PRIVATE_NETWORK: "1" });
    expect(await (await f(`http://localhost:${port}/`)).text()).toBe("ok");
  });

  it("caps JSON bodies (declared and streamed) and replaces oversized SSE events with a JSON-RPC error", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" });
    const f = createEgressFetch({ purpose: "mcp", maxResponseBytes: 1000 });
    await expect(f(`${origin}/declared`)).rejects.toMatchObject({ code: "too_large" });
    await expect(f(`${origin}/big`).then((r) => r.text())).rejects.toMatchObject({ code: "too_large" });
    await expect(f(`${origin}/bomb`).then((r) => r.text())).rejects.toMatchObject({ code: "too_large" });
    expect(await (await f(`${origin}/small`)).json()).toMatchObject({ ok: true });
    const sse = await (await f(`${origin}/sse`, { method: "POST", body: '{"jsonrpc":"2.0","id":7}' })).text();
    expect(sse).not.toContain("y".repeat(1000));
    expect(sse).toMatch(/"id":7,"error":\{"code":-32001,"message":"The server's response exceeded/);
    expect(sse).toContain('"data":{"reason":"response_too_large"}'); // how it is told from a server's -32001
    expect(sse).toContain('"method":"ok"'); // later events still flow
  });

  it("decodes a body the server compressed unasked, and sends bodies with fetch's content types", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" });
    const f = createEgressFetch({ purpose: "oauth" });
    const gz = await f(`${origin}/gzip`);
    expect([gz.status, gz.statusText]).toEqual([200, "OK"]);
    expect(await gz.json()).toEqual({ ok: true });
    const form = await f(`${origin}/echo`, {
      method: "POST",
      body: new URLSearchParams({ a: "1", b: "x y" }),
    });
    expect(await form.json()).toEqual({
      type: "application/x-www-form-urlencoded;charset=UTF-8",
      body: "a=1&b=x+y",
    });
    const text = await f(`${origin}/echo`, { method: "POST", body: "hi" });
    expect(await text.json()).toEqual({ type: "text/plain;charset=UTF-8", body: "hi" });
    const bytes = await f(`${origin}/echo`, {
      method: "POST",
      body: new TextEncoder().encode("{}"),
      headers: { "content-type": "application/json" },
    });
    expect(await bytes.json()).toEqual({ type: "application/json", body: "{}" });
  });

  it("a body cut off, or cancelled by its reader, fails the reader at most, never the process", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" });
    const f = createEgressFetch({ purpose: "mcp" });
    const res = await f(`${origin}/reset`);
    await new Promise((r) => setTimeout(r, 100)); // the socket is gone before the body is read
    await expect(res.text()).rejects.toThrow();
    // A reader that stops early (the SDK cancels a stream it no longer needs).
    // An SSE response of declared length (a complete body from the start).
    const sized = await f(`${origin}/sse-sized`, { method: "POST", body: '{"jsonrpc":"2.0","id":1}' });
    expect(await sized.text()).toContain('"result":{}');
    // A reader whose request is aborted mid-stream (the SDK closing a transport).
    for (const path of ["/stream", "/sse-stream"]) {
      const ac = new AbortController();
      const open = await f(`${origin}${path}`, { signal: ac.signal });
      const reader = open.body!.getReader();
      await reader.read();
      ac.abort();
      await reader.read().catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const path of ["/stream", "/sse-stream", "/sse-sized"]) {
      const open = await f(`${origin}${path}`);
      const reader = open.body!.getReader();
      await reader.read();
      await reader.cancel();
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it("follows same-origin redirects, refuses cross-origin ones for MCP, and strips nothing it should keep", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" });
    const f = createEgressFetch({ purpose: "mcp", headersFor: () => ({ "X-Poke-User-Id": "u1" }) });
    const res = await f(`${origin}/same`, { method: "POST", body: "{}" });
    expect(res.status).toBe(200);
    seen.length = 0;
    await expect(f(`${origin}/cross`)).rejects.toMatchObject({ code: "redirect_refused" });
    expect(seen.filter((s) => s.url?.startsWith("other"))).toHaveLength(0);
  });

  it("times out waiting for headers with a clear error", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" });
    const f = createEgressFetch({ purpose: "mcp", headersTimeoutMs: 200 });
    await expect(f(`${origin}/slow`)).rejects.toMatchObject({
      code: "timeout",
      message: expect.stringMatching(/sent no response/),
    });
  });

  it("classifies refused connections", async () => {
    setEnvForProcess({ ALLOW_PRIVATE_NETWORK: "1" });
    const tmp = http.createServer();
    await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", r));
    const port = (tmp.address() as AddressInfo).port;
    await new Promise((r) => tmp.close(r));
    const f = createEgressFetch({ purpose: "mcp" });
    await expect(f(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: "connection_refused" });
  });
});
