// The one crypto module: AES-256-GCM keyring for secrets at rest, hashes for verify-only secrets,
// scrypt password hashes. Deliberately not `server-only`: the key-rotation script loads it under tsx.
// Never import it from client components (it reads the encryption keys).
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from "node:crypto";
import { ConfigError, env } from "@/lib/env";

/** A failure to decrypt or parse a stored value. Messages never contain key material or plaintext. */
export class CryptoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CryptoError";
  }
}

/**
 * Every encrypted column: AAD table = Prisma model name, column = field name, id = row id.
 * The single source of truth for key rotation (scripts/rotate-keys.ts).
 */
export const ENCRYPTED_COLUMNS = [
  { model: "Integration", column: "apiKeyEnc" },
  { model: "OAuthClient", column: "clientSecretEnc" },
  { model: "OAuthClient", column: "privateKeyEnc" },
  { model: "OAuthGrant", column: "tokensEnc" },
  { model: "OAuthPending", column: "verifierEnc" },
  { model: "Template", column: "clientSecretEnc" },
  { model: "Template", column: "clientPrivateKeyEnc" },
  { model: "Account", column: "idTokenEnc" },
  { model: "CliLogin", column: "tokenEnc" },
] as const;

export type EncryptedColumn = (typeof ENCRYPTED_COLUMNS)[number];
export type FieldAad = { table: string; column: string; id: string };

/** The associated data binding a ciphertext to its row: only the columns listed above type-check. */
export function aad<T extends EncryptedColumn["model"]>(
  table: T,
  column: Extract<EncryptedColumn, { model: T }>["column"],
  id: string,
): FieldAad {
  return { table, column, id };
}

// ---------------------------------------------------------------------------------------------------------
// Keyring

const VERSION = "v1";
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

type Keyring = { current: string; keys: Map<string, Buffer> };

let cache: { raw: string; ring: Keyring } | undefined;

/** Parses "kid:base64,kid:base64". Errors name the entry by position and id, never by its key bytes. */
export function parseKeyring(raw: string): Keyring {
  const entries = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (!entries.length) throw new ConfigError("ENCRYPTION_KEYS is empty: expected keyId:base64key[,…]");
  const keys = new Map<string, Buffer>();
  let current = "";
  entries.forEach((entry, i) => {
    const where = `ENCRYPTION_KEYS entry #${i + 1}`;
    const colon = entry.indexOf(":");
    if (colon < 0) throw new ConfigError(`${where} is not in the form keyId:base64key`);
    const id = entry.slice(0, colon).trim();
    const b64 = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) {
      throw new ConfigError(`${where}: key id must be 1-32 characters of A-Z a-z 0-9 _ -`);
    }
    if (keys.has(id)) throw new ConfigError(`${where}: duplicate key id "${id}"`);
    // Buffer.from silently skips invalid characters, so check the alphabet before trusting the length.
    const key = BASE64.test(b64) ? Buffer.from(b64, "base64") : undefined;
    if (!key || key.length !== 32) {
      throw new ConfigError(`${where} ("${id}"): key must be exactly 32 bytes, base64-encoded`);
    }
    keys.set(id, key);
    current ||= id;
  });
  return { current, keys };
}

// Keyed on the raw string so tests (and a re-read environment) pick up a new ENCRYPTION_KEYS at once.
function keyring(): Keyring {
  const raw = env().ENCRYPTION_KEYS;
  if (cache?.raw !== raw) cache = { raw, ring: parseKeyring(raw) };
  return cache.ring;
}

/** Id of the key that encrypts new values (the first of ENCRYPTION_KEYS). */
export function currentKeyId(): string {
  return keyring().current;
}

// ---------------------------------------------------------------------------------------------------------
// Field encryption: v1.<keyId>.<iv>.<tag>.<ct>, base64url, AAD naming table/column/row

function aadBytes(keyId: string, aad: FieldAad): Buffer {
  for (const k of ["table", "column", "id"] as const) {
    if (typeof aad[k] !== "string" || !aad[k]) throw new CryptoError(`Encryption context is missing "${k}"`);
  }
  // JSON of an array is an unambiguous encoding ("a.b"+"c" never equals "a"+"b.c").
  return Buffer.from(JSON.stringify([VERSION, keyId, aad.table, aad.column, aad.id]), "utf8");
}

function b64urlDecode(part: string, what: string): Buffer {
  const buf = /^[A-Za-z0-9_-]*$/.test(part) ? Buffer.from(part, "base64url") : undefined;
  // Reject non-canonical encodings so each ciphertext has exactly one textual form.
  if (!buf || buf.toString("base64url") !== part) throw new CryptoError(`Malformed ciphertext (${what})`);
  return buf;
}

function parse(ciphertext: string) {
  if (typeof ciphertext !== "string") throw new CryptoError("Malformed ciphertext (not a string)");
  const parts = ciphertext.split(".");
  if (parts.length !== 5 || parts[0] !== VERSION) throw new CryptoError("Malformed ciphertext (format)");
  const [, keyId, iv, tag, ct] = parts;
  if (!KEY_ID.test(keyId)) throw new CryptoError("Malformed ciphertext (key id)");
  const parsed = {
    keyId,
    iv: b64urlDecode(iv, "iv"),
    tag: b64urlDecode(tag, "tag"),
    ct: b64urlDecode(ct, "data"),
  };
  if (parsed.iv.length !== IV_BYTES) throw new CryptoError("Malformed ciphertext (iv length)");
  if (parsed.tag.length !== TAG_BYTES) throw new CryptoError("Malformed ciphertext (tag length)");
  return parsed;
}

/** Encrypts under the current key, bound to the row and column it will be stored in. */
export function encryptField(plaintext: string, aad: FieldAad): string {
  if (typeof plaintext !== "string") throw new CryptoError("Only strings can be encrypted");
  const ring = keyring();
  const keyId = ring.current;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", ring.keys.get(keyId)!, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadBytes(keyId, aad));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, keyId, iv.toString("base64url"), tag.toString("base64url"), ct.toString("base64url")].join(
    ".",
  );
}

/** Decrypts a value stored by encryptField with the same AAD; throws CryptoError on any mismatch. */
export function decryptField(ciphertext: string, aad: FieldAad): string {
  const { keyId, iv, tag, ct } = parse(ciphertext);
  const key = keyring().keys.get(keyId);
  if (!key) throw new CryptoError(`Unknown encryption key id "${keyId}" (is it still in ENCRYPTION_KEYS?)`);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadBytes(keyId, aad));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString("utf8");
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    // GCM says only "unable to authenticate": wrong key bytes, wrong AAD or tampered data look the same.
    throw new CryptoError("Decryption failed: the value was altered or belongs to another record");
  }
}

export function encryptJson(value: unknown, aad: FieldAad): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new CryptoError("Value is not JSON-serializable");
  return encryptField(json, aad);
}

export function decryptJson<T = unknown>(ciphertext: string, aad: FieldAad): T {
  const json = decryptField(ciphertext, aad);
  try {
    return JSON.parse(json) as T;
  } catch {
    throw new CryptoError("Decrypted value is not valid JSON");
  }
}

/** The key id a ciphertext was written with (CryptoError when it is not a v1 ciphertext). */
export function keyIdOf(ciphertext: string): string {
  return parse(ciphertext).keyId;
}

/** Decrypts and re-encrypts under the current key (same AAD). */
export function reencryptField(ciphertext: string, aad: FieldAad): string {
  return encryptField(decryptField(ciphertext, aad), aad);
}

// ---------------------------------------------------------------------------------------------------------
// Verify-only secrets

/**
 * SHA-256 hex. Only for high-entropy random tokens (≥128 bits, see randomToken): for those a fast hash
 * is enough, and it keeps lookups by hash possible. Never use it for passwords.
 */
export function hashSecret(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** `prefix` + base64url of `bytes` random bytes; the prefix makes leaked tokens recognizable to scanners. */
export function randomToken(prefix: string, bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 16) throw new RangeError("randomToken needs at least 16 bytes");
  return prefix + randomBytes(bytes).toString("base64url");
}

/**
 * HMAC-SHA256 (base64url) of `data` under a key derived from SESSION_SECRET for one `purpose`: how instances
 * of one deployment (which share SESSION_SECRET) authenticate requests to each other (docs/deploy.md).
 */
export function internalSignature(purpose: string, data: string): string {
  const key = createHmac("sha256", env().SESSION_SECRET).update(`poke internal ${purpose}`).digest();
  return createHmac("sha256", key).update(data, "utf8").digest("base64url");
}

export function verifyInternalSignature(purpose: string, data: string, signature: string): boolean {
  const expected = Buffer.from(internalSignature(purpose, data));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// ---------------------------------------------------------------------------------------------------------
// Passwords: scrypt$N$r$p$salt$hash (base64url)

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, saltBytes: 32, keyBytes: 64 };

function scryptAsync(password: string, salt: Buffer, len: number, N: number, r: number, p: number) {
  return new Promise<Buffer>((resolve, reject) =>
    // Node's default maxmem (32 MiB) is exactly 128·N·r at N=2^15, r=8, which it rejects; allow twice that.
    scrypt(password, salt, len, { N, r, p, maxmem: 256 * N * r }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

// NFKC so the same password typed on different keyboards/OSes (composed vs decomposed) still matches.
const normalize = (password: string) => password.normalize("NFKC");

export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, saltBytes, keyBytes } = SCRYPT;
  const salt = randomBytes(saltBytes);
  const key = await scryptAsync(normalize(password), salt, keyBytes, N, r, p);
  return ["scrypt", N, r, p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** False for a wrong password or an unreadable stored hash; parameters are bounded to keep cost sane. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = typeof stored === "string" ? stored.split("$") : [];
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const powerOfTwo = Number.isInteger(N) && N >= 2 ** 10 && N <= 2 ** 17 && (N & (N - 1)) === 0;
  if (!powerOfTwo || !Number.isInteger(r) || r < 1 || r > 16 || !Number.isInteger(p) || p < 1 || p > 16) {
    return false;
  }
  const salt = Buffer.from(parts[4], "base64url");
  const expected = Buffer.from(parts[5], "base64url");
  if (salt.length < 16 || expected.length < 32) return false;
  const actual = await scryptAsync(normalize(password), salt, expected.length, N, r, p);
  return timingSafeEqual(actual, expected);
}
