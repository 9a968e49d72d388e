// IPv6 addresses that carry an IPv4 address are judged by that IPv4 address, and cloud metadata
// endpoints are never reachable, whatever the settings (docs/security.md §12).
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { classifyAddress, isAddressAllowed, METADATA_ADDRESSES, type PolicyInput } from "@/lib/net/ip-policy";

const production: PolicyInput = { allowPrivate: false, allowlist: [] };
const development: PolicyInput = { allowPrivate: true, allowlist: [] };

/** The IPv6 forms that carry `ip` (dotted IPv4) at a fixed place. */
function carriers(ip: string): Record<string, string> {
  const [a, b, c, d] = ipaddr.IPv4.parse(ip).toByteArray();
  const h = (x: number, y: number) => ((x << 8) | y).toString(16);
  const inv = (x: number) => x ^ 0xff;
  return {
    "IPv4-mapped": `::ffff:${ip}`,
    "IPv4-mapped (hex)": `::ffff:${h(a, b)}:${h(c, d)}`,
    "IPv4-compatible": `::${h(a, b)}:${h(c, d)}`,
    "IPv4-compatible (dotted)": `::${ip}`,
    "IPv4-translated": `::ffff:0:${ip}`,
    "NAT64 well-known": `64:ff9b::${ip}`,
    "NAT64 local-use /96": `64:ff9b:1::${ip}`,
    "NAT64 local-use /48": `64:ff9b:1:${h(a, b)}:${h(0, c)}:${h(d, 0)}::`,
    "NAT64 local-use /64": `64:ff9b:1::${h(0, a)}:${h(b, c)}:${h(d, 0)}:0`,
    "6to4": `2002:${h(a, b)}:${h(c, d)}::1`,
    "Teredo client": `2001:0:4136:e378:8000:63bf:${h(inv(a), inv(b))}:${h(inv(c), inv(d))}`,
    "Teredo server": `2001:0:${h(a, b)}:${h(c, d)}:8000:63bf:3fff:fdd2`,
    ISATAP: `2600:1f18::5efe:${ip}`,
    "ISATAP (global)": `2600:1f18::200:5efe:${ip}`,
  };
}

describe("IPv6 addresses carrying IPv4 are judged by the IPv4 address", () => {
  for (const [ip, range] of [
    ["127.0.0.1", "loopback"],
    ["10.1.2.3", "private"],
    ["192.168.0.7", "private"],
    ["100.64.1.1", "carrierGradeNat"],
    ["169.254.7.7", "linkLocal"],
    ["0.0.0.0", "unspecified"],
  ] as const) {
    it.each(Object.entries(carriers(ip)))(`${ip} as %s (%s) is ${range}`, (_form, v6) => {
      const v = classifyAddress(v6);
      expect(v.reason).toBeTruthy();
      // Teredo carries a second address, ISATAP keeps its prefix's verdict and the local-use NAT64 prefix
      // has several possible positions: the strictest wins, so those are at least this severe.
      if (!/Teredo|ISATAP|local-use/.test(_form)) expect(v.range).toBe(range);
      expect(isAddressAllowed(v, v6, 80, production)).toBe(false);
      expect(v.strict || isAddressAllowed(v, v6, 80, development)).toBe(true);
    });
  }

  it("the attack run's literals: ::7f00:1 is loopback, ::a9fe:a9fe is the metadata address", () => {
    expect(classifyAddress("::7f00:1")).toMatchObject({ range: "loopback", embedded: ["127.0.0.1"] });
    expect(classifyAddress("[::7f00:1]").reason).toMatch(/loopback.*IPv4-compatible/);
    expect(classifyAddress("::a9fe:a9fe")).toMatchObject({ forbidden: true, embedded: ["169.254.169.254"] });
  });

  it("a public IPv4 address inside NAT64, 6to4, Teredo or ISATAP is public", () => {
    for (const [form, v6] of Object.entries(carriers("8.8.4.4"))) {
      if (form === "Teredo server") continue; // its client part (3fff:fdd2 → 192.0.2.45) is a test address
      const v = classifyAddress(v6);
      expect({ form, reason: v.reason }).toEqual({ form, reason: undefined });
      expect(isAddressAllowed(v, v6, 443, production)).toBe(true);
    }
  });

  it("the address to connect to stays the IPv6 one (a NAT64 gateway translates it); IPv4-mapped unwraps", () => {
    expect(classifyAddress("64:ff9b::808:404").address).toBe("64:ff9b::808:404");
    expect(classifyAddress("::ffff:8.8.4.4").address).toBe("8.8.4.4");
  });

  it("ISATAP keeps its prefix's verdict: a link-local prefix stays link-local", () => {
    expect(classifyAddress("fe80::5efe:8.8.4.4").range).toBe("linkLocal");
  });

  it("IPv6's own :: and ::1 are not IPv4-compatible forms; ::2 is (0.0.0.2)", () => {
    expect(classifyAddress("::").range).toBe("unspecified");
    expect(classifyAddress("::1").range).toBe("loopback");
    expect(classifyAddress("::1").embedded).toBeUndefined();
    expect(classifyAddress("::2")).toMatchObject({ range: "unspecified", strict: true });
  });

  it("plain global IPv6 addresses are untouched", () => {
    for (const ip of ["2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]) {
      expect(classifyAddress(ip).reason).toBeUndefined();
      expect(classifyAddress(ip).embedded).toBeUndefined();
    }
  });
});

describe("cloud metadata addresses are never reachable", () => {
  const everyForm = [...METADATA_ADDRESSES].flatMap((ip) =>
    ip.includes(":")
      ? [ip, ip.replace("::", ":0::").replace(/:(\d+)$/, ":0$1")]
      : [ip, ...Object.values(carriers(ip))],
  );

  it.each(everyForm)(
    "%s is forbidden even when EGRESS_ALLOWLIST names it and private networks are allowed",
    (ip) => {
      const v = classifyAddress(ip);
      expect(v).toMatchObject({ forbidden: true, reason: expect.stringMatching(/metadata/) });
      const host = ip.includes(":") ? `[${ip}]` : ip;
      const everything: PolicyInput = { allowPrivate: true, allowlist: [`${host}:80`, `${host}:443`] };
      expect(isAddressAllowed(v, ip, 80, everything)).toBe(false);
      // a name on the allowlist that resolves to it
      const named: PolicyInput = { allowPrivate: true, allowlist: ["metadata.example:80"] };
      expect(isAddressAllowed(v, "metadata.example", 80, named)).toBe(false);
    },
  );

  it("covers AWS (IPv4 and IPv6), GCP, Azure, Alibaba Cloud and Oracle Cloud", () => {
    for (const ip of [
      "169.254.169.254",
      "fd00:ec2::254",
      "fd20:ce::254",
      "168.63.129.16",
      "100.100.100.200",
    ]) {
      expect(classifyAddress(ip).forbidden).toBe(true);
    }
    // a neighbour of a metadata address is only as special as its range
    expect(classifyAddress("168.63.129.17")).toMatchObject({ forbidden: false, range: "unicast" });
    expect(classifyAddress("169.254.169.253")).toMatchObject({ forbidden: false, range: "linkLocal" });
  });

  it("an allowlisted private address still opens (the allowlist keeps working for everything else)", () => {
    const listed: PolicyInput = { allowPrivate: false, allowlist: ["[::7f00:1]:8080", "nas.local:80"] };
    expect(isAddressAllowed(classifyAddress("::7f00:1"), "::7f00:1", 8080, listed)).toBe(true);
    expect(isAddressAllowed(classifyAddress("64:ff9b::a00:5"), "nas.local", 80, listed)).toBe(true);
    expect(isAddressAllowed(classifyAddress("64:ff9b::a00:5"), "nas.local", 81, listed)).toBe(false);
  });
});
