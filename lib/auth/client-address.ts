// Who is on the other end of a request, for sign-in throttling and the sessions list (docs/security.md §25).
// The server process stamps every request with its socket's peer address (PEER_HEADER, set in server.ts,
// replacing anything a client sent). X-Forwarded-For is believed only hop by hop from the right, and only
// while the hop that wrote it is listed in TRUSTED_PROXIES: a client can't choose its own address.
import ipaddr from "ipaddr.js";
import { env } from "@/lib/env";

export const PEER_HEADER = "x-poke-peer";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parse(raw: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  let s = raw.trim();
  // "[v6]:port" and "v4:port" forms some proxies write.
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) s = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  if (!ipaddr.isValid(s)) return undefined;
  const a = ipaddr.parse(s);
  return a.kind() === "ipv6" && (a as ipaddr.IPv6).isIPv4MappedAddress()
    ? (a as ipaddr.IPv6).toIPv4Address()
    : a;
}

let trustedCache: { source: string[]; ranges: Range[] } | undefined;

function trustedRanges(): Range[] {
  const source = env().TRUSTED_PROXIES;
  if (trustedCache?.source === source) return trustedCache.ranges;
  const ranges: Range[] = [];
  for (const entry of source) {
    try {
      if (entry.includes("/")) ranges.push(ipaddr.parseCIDR(entry));
      else {
        const a = parse(entry);
        if (a) ranges.push([a, a.kind() === "ipv4" ? 32 : 128]);
      }
    } catch {
      // An unreadable entry trusts nobody.
    }
  }
  trustedCache = { source, ranges };
  return ranges;
}

function isTrusted(a: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return trustedRanges().some(([net, bits]) => a.kind() === net.kind() && a.match([net, bits] as never));
}

/** Whether a connection's peer address is one of TRUSTED_PROXIES (whose request headers are believed). */
export function isTrustedPeer(raw: string): boolean {
  const a = parse(raw);
  return a ? isTrusted(a) : false;
}

/** The client's address, canonical ("203.0.113.7", "2001:db8::1"), or "unknown" outside the server. */
export function clientAddress(headers: Headers): string {
  const peer = parse(headers.get(PEER_HEADER) ?? "");
  if (!peer) return "unknown";
  let addr = peer;
  if (isTrusted(addr)) {
    const hops = (headers.get("x-forwarded-for") ?? "").split(",").reverse();
    for (const hop of hops) {
      const a = parse(hop);
      if (!a) break; // a garbled entry ends what can be believed
      addr = a;
      if (!isTrusted(a)) break;
    }
  }
  return addr.toString();
}

/**
 * The throttling bucket of an address: IPv6 clients usually hold a whole /64, so it counts as one address.
 */
export function addressBucket(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const a = ipaddr.parse(address);
  if (a.kind() === "ipv4") return a.toString();
  const parts = (a as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(":")}::/64`;
}
