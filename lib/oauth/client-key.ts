// Private keys for pre-registered clients that authenticate with private_key_jwt (RFC 7523 §2.2,
// docs/oauth.md): accepted as PEM (PKCS#8, SEC1 or PKCS#1) or as a JWK, stored as PKCS#8 PEM (encrypted,
// lib/crypto.ts), used to sign client assertions through the SDK (createPrivateKeyJwtAuth), and shown only
// as their public half, the JWK an admin registers at the authorization server.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { createPrivateKeyJwtAuth, type OAuthClientProvider } from "@modelcontextprotocol/client";
import { AppError } from "@/lib/errors";

export const CLIENT_KEY_ALGS = ["ES256", "RS256"] as const;
export type ClientKeyAlg = (typeof CLIENT_KEY_ALGS)[number];

/** A parsed client key: what is stored (PKCS#8 PEM, encrypted) and what is shown (the public JWK). */
export type ClientKey = { pem: string; alg: ClientKeyAlg; publicJwk: PublicJwk };
export type PublicJwk = Record<string, string>;

/** Generous for a 4096-bit RSA key in PEM or JWK form; anything longer is not a key. */
export const MAX_CLIENT_KEY_CHARS = 8_192;

const invalid = (why: string) =>
  new AppError("invalid_input", `The private key ${why}. Paste a PEM private key or a private JWK.`, 400, {
    field: "clientPrivateKey",
  });

/**
 * Parses a private key an admin or `poke tunnel` supplied. ES256 (EC P-256) and RS256 (RSA, at least 2048
 * bits) are accepted; the algorithm follows from the key (`alg` may confirm it, never change it).
 */
export function parseClientPrivateKey(raw: string, alg?: string): ClientKey {
  const text = raw.trim();
  if (!text) throw invalid("is empty");
  if (text.length > MAX_CLIENT_KEY_CHARS) throw invalid("is too long");
  let key: KeyObject;
  try {
    if (text.startsWith("{")) {
      const jwk = JSON.parse(text) as Record<string, unknown>;
      if (!jwk || typeof jwk !== "object" || typeof jwk.d !== "string") throw new Error("no private part");
      key = createPrivateKey({ key: jwk as never, format: "jwk" });
    } else {
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error("not a PEM private key");
      if (/ENCRYPTED PRIVATE KEY/.test(text)) throw new Error("encrypted");
      key = createPrivateKey({ key: text, format: "pem" });
    }
  } catch (e) {
    if ((e as Error).message === "encrypted")
      throw invalid("is encrypted with a passphrase; remove it first");
    throw invalid("could not be read");
  }
  const derived = algFor(key);
  if (!derived) {
    throw invalid("is neither an EC P-256 key (ES256) nor an RSA key of at least 2048 bits (RS256)");
  }
  if (alg && alg !== derived) throw invalid(`is a ${derived} key, not ${alg}`);
  const pem = key.export({ format: "pem", type: "pkcs8" }).toString();
  return { pem, alg: derived, publicJwk: publicJwkOf(key, derived) };
}

function algFor(key: KeyObject): ClientKeyAlg | undefined {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec" && d?.namedCurve === "prime256v1") return "ES256";
  if (key.asymmetricKeyType === "rsa" && (d?.modulusLength ?? 0) >= 2048) return "RS256";
  return undefined;
}

/** The public JWK of a key, with `alg`, `use` and an RFC 7638 thumbprint as `kid`. */
function publicJwkOf(key: KeyObject, alg: ClientKeyAlg): PublicJwk {
  const jwk = createPublicKey(key).export({ format: "jwk" }) as Record<string, string>;
  // RFC 7638: the required members in lexicographic order, no whitespace.
  const members = jwk.kty === "EC" ? ["crv", "kty", "x", "y"] : ["e", "kty", "n"];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])));
  const kid = createHash("sha256").update(canonical).digest("base64url");
  return { ...jwk, use: "sig", alg, kid };
}

/** The public JWK of a stored key (PKCS#8 PEM), for display. */
export function publicJwkOfStored(pem: string, alg: string): PublicJwk | undefined {
  try {
    return parseClientPrivateKey(pem, alg).publicJwk;
  } catch {
    return undefined;
  }
}

/**
 * RFC 7523 client authentication for every token request the SDK makes with this client: a JWT with
 * iss = sub = client_id, aud = the authorization server's issuer, signed with the stored key.
 */
export function privateKeyJwtAuth(
  clientId: string,
  key: { pem: string; alg: string },
): NonNullable<OAuthClientProvider["addClientAuthentication"]> {
  return createPrivateKeyJwtAuth({ issuer: clientId, subject: clientId, privateKey: key.pem, alg: key.alg });
}
