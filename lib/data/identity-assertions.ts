// The OIDC ID token of a person's latest sign-in through the app's identity provider, kept encrypted on
// their linked Account: the identity assertion that enterprise-managed authorization exchanges for an
// integration's tokens without a consent screen (docs/oauth.md). Replaced at every sign-in; never shown.
import { aad, decryptField, encryptField } from "@/lib/crypto";
import { getDb } from "@/lib/db";

/** The provider id of the app's OIDC sign-in (lib/auth/options.ts). */
export const OIDC_PROVIDER = "oidc";

/** An ID token longer than this is not stored (none of a real IdP's come close). */
const MAX_ID_TOKEN_CHARS = 16_384;

/** Stores the ID token of a sign-in on its linked account; ignores unlinked accounts and odd tokens. */
export async function saveIdToken(p: { provider: string; providerAccountId: string; idToken: string }) {
  if (!p.idToken || p.idToken.length > MAX_ID_TOKEN_CHARS) return;
  const db = await getDb();
  const account = await db.account.findUnique({
    where: { provider_providerAccountId: { provider: p.provider, providerAccountId: p.providerAccountId } },
    select: { id: true },
  });
  if (!account) return;
  await db.account.update({
    where: { id: account.id },
    data: {
      idTokenEnc: encryptField(p.idToken, aad("Account", "idTokenEnc", account.id)),
      idTokenExpiresAt: expiryOf(p.idToken),
    },
  });
}

/** The user's ID token from the app's OIDC provider, unless it has expired (or there is none). */
export async function readIdToken(userId: string, now = Date.now()): Promise<string | undefined> {
  const db = await getDb();
  const row = await db.account.findFirst({
    where: { userId, provider: OIDC_PROVIDER, idTokenEnc: { not: null } },
    orderBy: { createdAt: "desc" },
    select: { id: true, idTokenEnc: true, idTokenExpiresAt: true },
  });
  if (!row?.idTokenEnc) return undefined;
  if (row.idTokenExpiresAt && row.idTokenExpiresAt.getTime() <= now) return undefined;
  return decryptField(row.idTokenEnc, aad("Account", "idTokenEnc", row.id));
}

/** The `exp` claim of a JWT (read only for bookkeeping; the token's consumer verifies it). */
function expiryOf(jwt: string): Date | null {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"));
    return typeof payload?.exp === "number" ? new Date(payload.exp * 1000) : null;
  } catch {
    return null;
  }
}
