// SSRF address policy: which resolved addresses outbound requests may reach. Pure (no I/O) so the
// egress module, the Doctor and unit tests share one definition. docs/security.md §12.
import ipaddr from "ipaddr.js";

export type AddressVerdict = {
  /** the address to connect to: canonical, with IPv4-mapped IPv6 unwrapped to IPv4 */
  address: string;
  /** ipaddr.js range name, e.g. "unicast", "loopback", "private"; an embedded IPv4 address's range */
  range: string;
  /** why the address is special; undefined for public unicast */
  reason?: string;
  /** true when only an exact EGRESS_ALLOWLIST entry may unlock it (never ALLOW_PRIVATE_NETWORK) */
  strict: boolean;
  /** true for cloud metadata endpoints: nothing unlocks them, not even EGRESS_ALLOWLIST */
  forbidden: boolean;
  /** the IPv4 address(es) an IPv6 address carries (NAT64, 6to4, Teredo, …) that decided the verdict */
  embedded?: string[];
};

// Ranges that ALLOW_PRIVATE_NETWORK unlocks: a self-hoster's own LAN and loopback servers.
const PRIVATE_RANGES = new Set(["loopback", "private", "linkLocal", "carrierGradeNat", "uniqueLocal"]);

/**
 * Cloud metadata and platform endpoints: they hand out instance credentials, so no setting opens them.
 * AWS (IMDS 169.254.169.254 / fd00:ec2::254, ECS task credentials 169.254.170.2, EKS Pod Identity
 * 169.254.170.23 / fd00:ec2::23), GCP, Azure, DigitalOcean and OpenStack (169.254.169.254; GCP's IPv6
 * fd20:ce::254), Alibaba Cloud (100.100.100.200), Azure's WireServer (168.63.129.16, a public address that
 * only answers inside Azure and serves extension settings) and Oracle Cloud Classic (192.0.0.192).
 */
export const METADATA_ADDRESSES: ReadonlySet<string> = new Set([
  "169.254.169.254",
  "169.254.170.2",
  "169.254.170.23",
  "100.100.100.200",
  "168.63.129.16",
  "192.0.0.192",
  "fd00:ec2::254",
  "fd00:ec2::23",
  "fd20:ce::254",
]);

const REASONS: Record<string, string> = {
  loopback: "a loopback address",
  private: "a private network address",
  linkLocal: "a link-local address",
  carrierGradeNat: "a carrier-grade NAT address",
  uniqueLocal: "a unique-local IPv6 address",
  multicast: "a multicast address",
  broadcast: "the broadcast address",
  unspecified: "the unspecified address (0.0.0.0 / ::)",
  reserved: "a reserved address",
};

/** Parses an IP literal as the WHATWG URL parser would (hex, octal, decimal IPv4; bracketed IPv6). */
export function parseIpLiteral(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, "");
  if (ipaddr.IPv6.isValid(bare)) return ipaddr.IPv6.parse(bare).toString();
  let normalized: string;
  try {
    normalized = new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname;
  } catch {
    return undefined;
  }
  return ipaddr.IPv4.isValidFourPartDecimal(normalized) ? normalized : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// IPv4 addresses carried inside IPv6 ones

const v4 = (b: number[]) => new ipaddr.IPv4(b);

/** How an IPv6 address carries IPv4 (`form` reads "a NAT64", "an ISATAP", …) and which addresses. */
type Embedding = {
  form: string;
  ipv4: ipaddr.IPv4[];
  /** the position is ambiguous: candidates in 0.0.0.0/8 are the zero padding of another position */
  guessed?: boolean;
  keepPrefixVerdict?: boolean;
};

/**
 * Every IPv4 address an IPv6 address embeds, by the transition mechanisms that route such addresses to
 * IPv4 hosts. Where the position depends on a prefix length the address doesn't reveal (the local-use
 * NAT64 prefix), every position RFC 6052 allows is returned and the strictest verdict wins.
 */
function embeddedIPv4(addr: ipaddr.IPv6): Embedding | undefined {
  const b = addr.toByteArray();
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const last32 = () => v4(b.slice(12, 16));
  // ::ffff:0:a.b.c.d — IPv4-translated (SIIT, RFC 2765 / 6145)
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0)
    return { form: "an IPv4-translated", ipv4: [last32()] };
  // ::a.b.c.d — IPv4-compatible (deprecated by RFC 4291); :: and ::1 are IPv6's own
  if (zero(0, 12) && !(zero(12, 15) && b[15] <= 1)) return { form: "an IPv4-compatible", ipv4: [last32()] };
  // 64:ff9b::/96 — NAT64 well-known prefix (RFC 6052)
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12))
    return { form: "a NAT64", ipv4: [last32()] };
  // 64:ff9b:1::/48 — NAT64 local-use prefix (RFC 8215); any RFC 6052 prefix length from /48 to /96
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b[4] === 0 && b[5] === 1) {
    return {
      form: "a NAT64",
      guessed: true,
      ipv4: [
        v4([b[6], b[7], b[9], b[10]]), // /48
        v4([b[7], b[9], b[10], b[11]]), // /56
        v4([b[9], b[10], b[11], b[12]]), // /64
        last32(), // /96
      ],
    };
  }
  // 2002:a.b.c.d::/48 — 6to4 (RFC 3056)
  if (b[0] === 0x20 && b[1] === 0x02) return { form: "a 6to4", ipv4: [v4(b.slice(2, 6))] };
  // 2001:0::/32 — Teredo (RFC 4380): the server's IPv4, then the client's, bit-inverted
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) {
    return { form: "a Teredo", ipv4: [v4(b.slice(4, 8)), v4(b.slice(12, 16).map((x) => x ^ 0xff))] };
  }
  // <prefix>:0:5efe:a.b.c.d or <prefix>:200:5efe:a.b.c.d — ISATAP interface identifier (RFC 5214). The
  // prefix keeps its own verdict too (fe80::5efe:… is link-local whatever it carries).
  if ((b[8] & 0xfc) === 0 && b[9] === 0 && b[10] === 0x5e && b[11] === 0xfe) {
    return { form: "an ISATAP", ipv4: [last32()], keepPrefixVerdict: true };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Classification

function verdictOf(addr: ipaddr.IPv4 | ipaddr.IPv6): AddressVerdict {
  const address = addr.toString();
  const range = addr.range();
  if (METADATA_ADDRESSES.has(address)) {
    return { address, range, reason: "a cloud metadata address", strict: true, forbidden: true };
  }
  if (range === "unicast") return { address, range, strict: false, forbidden: false };
  const reason = REASONS[range] ?? `a special-purpose address (${range})`;
  return { address, range, reason, strict: !PRIVATE_RANGES.has(range), forbidden: false };
}

/** Orders verdicts from allowed to never allowed. */
function severity(v: AddressVerdict): number {
  if (v.forbidden) return 3;
  if (v.strict) return 2;
  return v.reason ? 1 : 0;
}

/**
 * Classifies one address. Anything that is not global unicast is flagged. An IPv6 address that carries an
 * IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo, ISATAP) is judged by
 * the IPv4 address it carries, so `::7f00:1` is loopback and `64:ff9b::a9fe:a9fe` is the metadata address.
 */
export function classifyAddress(raw: string): AddressVerdict {
  const literal = parseIpLiteral(raw);
  if (!literal) {
    return { address: raw, range: "invalid", reason: "not an IP address", strict: true, forbidden: false };
  }
  const addr = ipaddr.parse(literal);
  if (addr.kind() === "ipv4") return verdictOf(addr);
  const v6 = addr as ipaddr.IPv6;
  // The OS sends ::ffff:a.b.c.d to a.b.c.d itself: connect to (and report) the IPv4 address.
  if (v6.isIPv4MappedAddress()) return verdictOf(v6.toIPv4Address());
  const own = verdictOf(v6);
  const embedding = own.forbidden ? undefined : embeddedIPv4(v6);
  if (!embedding) return own;
  const plausible = embedding.guessed ? embedding.ipv4.filter((a) => a.octets[0] !== 0) : embedding.ipv4;
  const carried = plausible.length ? plausible : embedding.ipv4;
  const candidates = carried.map(verdictOf);
  let worst = candidates.reduce((a, c) => (severity(c) > severity(a) ? c : a));
  if (embedding.keepPrefixVerdict && severity(own) > severity(worst)) worst = own;
  const embedded = [...new Set(carried.map(String))];
  // Keep the IPv6 address to connect to (a NAT64 gateway, say, translates it); report what decided.
  return {
    address: own.address,
    range: worst.range,
    reason:
      worst.reason &&
      (worst === own ? worst.reason : `${worst.reason} (inside ${embedding.form} IPv6 address)`),
    strict: worst.strict,
    forbidden: worst.forbidden,
    embedded,
  };
}

export type PolicyInput = { allowPrivate: boolean; allowlist: string[] };

/** Host:port as written in EGRESS_ALLOWLIST (IPv6 bracketed, lower-case). */
export function hostPortKey(hostname: string, port: string | number): string {
  const bare = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const host = bare.includes(":") ? `[${bare}]` : bare;
  return `${host}:${port}`;
}

/**
 * Whether an address may be reached for `hostname:port`. Cloud metadata addresses never; otherwise an
 * exact allowlist entry unlocks anything, and ALLOW_PRIVATE_NETWORK unlocks private ranges but never
 * multicast or unspecified addresses.
 */
export function isAddressAllowed(
  verdict: AddressVerdict,
  hostname: string,
  port: string | number,
  policy: PolicyInput,
): boolean {
  if (verdict.forbidden) return false;
  if (!verdict.reason) return true;
  const key = hostPortKey(hostname, port);
  if (policy.allowlist.some((e) => e.toLowerCase() === key)) return true;
  return policy.allowPrivate && !verdict.strict;
}
