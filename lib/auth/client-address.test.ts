import { afterEach, describe, expect, it } from "vitest";
import { setEnvForProcess } from "@/lib/env";
import { addressBucket, clientAddress, PEER_HEADER } from "./client-address";

const h = (peer: string | undefined, xff?: string) => {
  const headers = new Headers();
  if (peer !== undefined) headers.set(PEER_HEADER, peer);
  if (xff !== undefined) headers.set("x-forwarded-for", xff);
  return headers;
};

describe("clientAddress", () => {
  afterEach(() => setEnvForProcess({ TRUSTED_PROXIES: undefined }));

  it("is the socket's peer unless TRUSTED_PROXIES names it: X-Forwarded-For alone is never believed", () => {
    setEnvForProcess({ TRUSTED_PROXIES: undefined, SESSION_SECRET: "x".repeat(32), ENCRYPTION_KEYS: "k:x" });
    expect(clientAddress(h("203.0.113.9", "1.2.3.4"))).toBe("203.0.113.9");
    expect(clientAddress(h("::ffff:127.0.0.1", "1.2.3.4"))).toBe("127.0.0.1");
    expect(clientAddress(h(undefined, "1.2.3.4"))).toBe("unknown");
  });

  it("walks X-Forwarded-For from the right only through trusted proxies", () => {
    setEnvForProcess({
      TRUSTED_PROXIES: "10.0.0.0/8, 127.0.0.1",
      SESSION_SECRET: "x".repeat(32),
      ENCRYPTION_KEYS: "k:x",
    });
    // client → proxy 10.1.1.1 → proxy 10.2.2.2 → app (peer)
    expect(clientAddress(h("10.2.2.2", "198.51.100.7, 10.1.1.1"))).toBe("198.51.100.7");
    // a client writing its own entries can't step past the first untrusted hop
    expect(clientAddress(h("127.0.0.1", "6.6.6.6, 198.51.100.7"))).toBe("198.51.100.7");
    expect(clientAddress(h("127.0.0.1", "garbage, 10.9.9.9"))).toBe("10.9.9.9");
    expect(clientAddress(h("127.0.0.1", "[2001:db8::5]:4711"))).toBe("2001:db8::5");
    // an untrusted peer's header is ignored
    expect(clientAddress(h("198.51.100.8", "10.1.1.1"))).toBe("198.51.100.8");
  });

  it("buckets IPv6 clients by /64", () => {
    expect(addressBucket("2001:db8:1:2:aaaa::1")).toBe(addressBucket("2001:db8:1:2:bbbb::9"));
    expect(addressBucket("2001:db8:1:3::1")).not.toBe(addressBucket("2001:db8:1:2::1"));
    expect(addressBucket("192.0.2.1")).toBe("192.0.2.1");
  });
});
