// SSRF address policy: which resolved addresses outbound requests may reach. Pure (no I/O) so the
// egress module, the Doctor and unit tests share one definition.
import ipaddr from "ipaddr.js";

export type AddressVerdict = {
  /** canonical form (IPv4-mapped IPv6 unwrapped to IPv4) */
  address: string;
  /** ipaddr.js range name, e.g. "unicast", "loopback", "private" */
  range: string;
  /** why the address is special; undefined for public unicast */
  reason?: string;
  /** true when only an exact EGRESS_ALLOWLIST entry may unlock it (never ALLOW_PRIVATE_NETWORK) */
  strict: boolean;
};

// Ranges that ALLOW_PRIVATE_NETWORK unlocks: a self-hoster's own LAN and loopback servers.
const PRIVATE_RANGES = new Set(["loopback", "private", "linkLocal", "carrierGradeNat", "uniqueLocal"]);

const METADATA = new Set(["169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"]);

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

/** Classifies one address. Anything that is not global unicast is flagged. */
export function classifyAddress(raw: string): AddressVerdict {
  const literal = parseIpLiteral(raw);
  if (!literal) return { address: raw, range: "invalid", reason: "not an IP address", strict: true };
  let addr = ipaddr.parse(literal);
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  }
  const address = addr.toString();
  const range = addr.range();
  if (METADATA.has(address)) {
    return { address, range, reason: "a cloud metadata address", strict: true };
  }
  if (range === "unicast") return { address, range, strict: false };
  const reason = REASONS[range] ?? `a special-purpose address (${range})`;
  return { address, range, reason, strict: !PRIVATE_RANGES.has(range) };
}

export type PolicyInput = { allowPrivate: boolean; allowlist: string[] };

/** Host:port as written in EGRESS_ALLOWLIST (IPv6 bracketed, lower-case). */
export function hostPortKey(hostname: string, port: string | number): string {
  const bare = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const host = bare.includes(":") ? `[${bare}]` : bare;
  return `${host}:${port}`;
}

/**
 * Whether an address may be reached for `hostname:port`. An exact allowlist entry unlocks anything;
 * ALLOW_PRIVATE_NETWORK unlocks private ranges but never metadata, multicast or unspecified addresses.
 */
export function isAddressAllowed(
  verdict: AddressVerdict,
  hostname: string,
  port: string | number,
  policy: PolicyInput,
): boolean {
  if (!verdict.reason) return true;
  const key = hostPortKey(hostname, port);
  if (policy.allowlist.some((e) => e.toLowerCase() === key)) return true;
  return policy.allowPrivate && !verdict.strict;
}
