import { beforeEach, describe, expect, it } from "vitest";
import { setEnvForProcess } from "@/lib/env";
import {
  aad,
  CryptoError,
  currentKeyId,
  decryptField,
  decryptJson,
  encryptField,
  encryptJson,
  hashPassword,
  hashSecret,
  keyIdOf,
  randomToken,
  reencryptField,
  verifyPassword,
} from "@/lib/crypto";

const keyA = `kA:${Buffer.alloc(32, 1).toString("base64")}`;
const keyB = `kB:${Buffer.alloc(32, 2).toString("base64")}`;
const ad = aad("Integration", "apiKeyEnc", "int_1");

function setKeys(keys: string) {
  setEnvForProcess({ SESSION_SECRET: "s".repeat(32), ENCRYPTION_KEYS: keys });
}

/** Flips one bit of the decoded bytes of part `index` and re-encodes it canonically. */
function tamper(ct: string, index: number): string {
  const parts = ct.split(".");
  const buf = Buffer.from(parts[index], "base64url");
  buf[0] ^= 1;
  parts[index] = buf.toString("base64url");
  return parts.join(".");
}

// Each test file runs in its own worker process, so these settings do not leak into other files.
beforeEach(() => setKeys(keyA));

describe("field encryption", () => {
  it("round-trips ASCII, unicode and the empty string", () => {
    for (const text of ["sk-live-123", "pässwörd 🔑 ключ 鍵", ""]) {
      const ct = encryptField(text, ad);
      expect(ct).toMatch(/^v1\.kA\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]*$/);
      expect(ct).not.toContain(text || "\u0000");
      expect(decryptField(ct, ad)).toBe(text);
    }
  });

  it("uses a fresh IV for every encryption", () => {
    const a = encryptField("same", ad);
    const b = encryptField("same", ad);
    expect(a).not.toBe(b);
    expect(a.split(".")[2]).not.toBe(b.split(".")[2]);
  });

  it.each([
    ["iv", 2],
    ["tag", 3],
    ["ciphertext", 4],
  ])("detects a tampered %s", (_name, index) => {
    const ct = encryptField("secret value", ad);
    expect(() => decryptField(tamper(ct, index), ad)).toThrow(CryptoError);
  });

  it("detects a swapped key id, even to another configured key", () => {
    setKeys(`${keyA},${keyB}`);
    const ct = encryptField("secret", ad);
    expect(() => decryptField(ct.replace("v1.kA.", "v1.kB."), ad)).toThrow(CryptoError);
  });

  it.each(["table", "column", "id"] as const)("fails when the AAD %s differs", (field) => {
    const ct = encryptField("secret", ad);
    expect(() => decryptField(ct, { ...ad, [field]: `${ad[field]}x` })).toThrow(CryptoError);
  });

  it("fails on an unknown key id without revealing key material", () => {
    const ct = encryptField("secret", ad);
    setKeys(keyB);
    expect(() => decryptField(ct, ad)).toThrow(/Unknown encryption key id "kA"/);
  });

  it.each([
    "",
    "plaintext",
    "v2.kA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AA",
    "v1.kA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
    "v1.kA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AA.AA",
    "v1.k$A.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AA",
    "v1.kA.AAAA.AAAAAAAAAAAAAAAAAAAAAA.AA",
    "v1.kA.AAAAAAAAAAAAAAAA.AAAA.AA",
    "v1.kA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.A+/=",
  ])("rejects the malformed ciphertext %j", (bad) => {
    expect(() => decryptField(bad, ad)).toThrow(CryptoError);
  });

  it("rejects a non-canonical base64url part (one value, one spelling)", () => {
    const ct = encryptField("secret", ad);
    const parts = ct.split(".");
    // 16 tag bytes leave 4 unused bits in the last character; setting one must not still decrypt.
    const last = parts[3].at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    parts[3] = parts[3].slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    expect(() => decryptField(parts.join("."), ad)).toThrow(/Malformed ciphertext \(tag\)/);
  });

  it("requires a complete AAD", () => {
    expect(() => encryptField("x", { ...ad, id: "" })).toThrow(CryptoError);
  });

  it("round-trips JSON and reports invalid JSON as a CryptoError", () => {
    const tokens = { access_token: "at", refresh_token: "rt", expires_in: 3600, scope: "a b" };
    expect(decryptJson(encryptJson(tokens, ad), ad)).toEqual(tokens);
    expect(() => decryptJson(encryptField("{not json", ad), ad)).toThrow(CryptoError);
  });
});

describe("key rotation", () => {
  it("keeps old values readable after a new key is prepended, and encrypts new ones with it", () => {
    const old = encryptField("old secret", ad);

    setKeys(`${keyB},${keyA}`);
    expect(currentKeyId()).toBe("kB");
    expect(decryptField(old, ad)).toBe("old secret");
    expect(keyIdOf(old)).toBe("kA");

    const fresh = encryptField("new secret", ad);
    expect(keyIdOf(fresh)).toBe("kB");

    const rotated = reencryptField(old, ad);
    expect(keyIdOf(rotated)).toBe("kB");
    expect(decryptField(rotated, ad)).toBe("old secret");

    // once the old key is dropped, rotated values still decrypt
    setKeys(keyB);
    expect(decryptField(rotated, ad)).toBe("old secret");
    expect(() => decryptField(old, ad)).toThrow(CryptoError);
  });
});

describe("key configuration", () => {
  const secret = Buffer.alloc(32, 9).toString("base64");
  it.each([
    ["no colon", secret, /entry #1 is not in the form keyId:base64key/],
    ["a bad key id", `bad.id:${secret}`, /entry #1: key id must be/],
    ["a too-long key id", `${"k".repeat(33)}:${secret}`, /entry #1: key id must be/],
    ["a duplicate id", `k1:${secret},k1:${secret}`, /entry #2: duplicate key id "k1"/],
    ["a short key", `k1:${Buffer.alloc(16).toString("base64")}`, /"k1"\): key must be exactly 32 bytes/],
    ["a long key", `k1:${Buffer.alloc(33).toString("base64")}`, /exactly 32 bytes/],
    ["non-base64", `k1:${"!".repeat(44)}`, /exactly 32 bytes/],
    ["only commas", ",,", /ENCRYPTION_KEYS is empty/],
  ])("rejects %s with one line and no key material", (_name, keys, message) => {
    setKeys(keys);
    let error: Error | undefined;
    try {
      encryptField("x", ad);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain(secret);
    expect(error?.message).not.toContain("\n");
  });

  it("picks up a changed ENCRYPTION_KEYS immediately", () => {
    expect(keyIdOf(encryptField("x", ad))).toBe("kA");
    setKeys(keyB);
    expect(keyIdOf(encryptField("x", ad))).toBe("kB");
  });
});

describe("verify-only secrets", () => {
  it("hashSecret is deterministic SHA-256 hex", () => {
    expect(hashSecret("poke_abc")).toBe(hashSecret("poke_abc"));
    expect(hashSecret("poke_abc")).not.toBe(hashSecret("poke_abd"));
    expect(hashSecret("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("randomToken is prefixed, base64url and unique", () => {
    const a = randomToken("poke_");
    expect(a).toMatch(/^poke_[A-Za-z0-9_-]{43}$/);
    expect(randomToken("poke_")).not.toBe(a);
    expect(randomToken("r_", 16)).toMatch(/^r_[A-Za-z0-9_-]{22}$/);
    expect(() => randomToken("x_", 8)).toThrow(RangeError);
  });
});

describe("passwords", () => {
  it("verifies the right password and rejects a wrong one", async () => {
    const stored = await hashPassword("correct horse battery staple");
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{43}\$[A-Za-z0-9_-]{86}$/);
    expect(await verifyPassword("correct horse battery staple", stored)).toBe(true);
    expect(await verifyPassword("correct horse battery stapl", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("salts every hash and treats composed/decomposed unicode alike", async () => {
    const a = await hashPassword("café");
    expect(await hashPassword("café")).not.toBe(a);
    expect(await verifyPassword("cafe\u0301", a)).toBe(true);
  });

  it("rejects unreadable or out-of-bounds stored hashes without throwing", async () => {
    const stored = await hashPassword("pw");
    const parts = stored.split("$");
    for (const bad of [
      "",
      "bcrypt$x",
      stored.replace("scrypt$", "sha1$"),
      [parts[0], 2 ** 30, ...parts.slice(2)].join("$"),
      [parts[0], 1000, ...parts.slice(2)].join("$"),
      [...parts.slice(0, 5), ""].join("$"),
    ]) {
      expect(await verifyPassword("pw", bad)).toBe(false);
    }
  });
});
