// `poke login`, device style: the CLI starts a login and polls with a secret poll token; the signed-in
// person approves the short code in the browser; the app then mints an API token for them, keeps it
// encrypted on the CliLogin row, and hands it to the poller exactly once. Codes live 10 minutes and both
// secrets are stored hashed (docs/security.md §3). Lives beside the tunnel because both serve the CLI.
import { randomBytes } from "node:crypto";
import { audit } from "@/lib/data/audit";
import { createApiToken, revokeApiToken } from "@/lib/data/api-tokens";
import type { SessionUser } from "@/lib/data/users";
import { hashSecret, randomToken } from "@/lib/crypto";
import {
  approveCliLoginRow,
  createCliLogin,
  deleteUnapprovedCliLogin,
  findCliLogin,
  findCliLoginByPoll,
} from "@/lib/data/tunnels";
import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";

export const CLI_LOGIN_TTL_MS = 10 * 60_000;
export const POLL_INTERVAL_MS = 2_000;
// No 0/O/1/I/L: the person compares the code with what the terminal shows.
const ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/** XXXX-XXXX, 8 symbols of a 31-letter alphabet (~40 bits): only the poll token is a bearer secret. */
function userCode(): string {
  const bytes = randomBytes(8);
  const s = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join("");
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

export function normalizeCode(raw: string): string {
  const s = raw.toUpperCase().replace(/[^A-Z0-9]/g, "");
  return s.length === 8 ? `${s.slice(0, 4)}-${s.slice(4)}` : s;
}

/** Display-only label for the device (the CLI reports its own host name; never trusted for anything else). */
export function cleanHostLabel(raw: string | null | undefined): string {
  const s = String(raw ?? "")
    .replace(/[^A-Za-z0-9._-]/g, "")
    .slice(0, 64);
  return s || "unknown host";
}

export async function startCliLogin(host?: string) {
  const code = userCode();
  const pollToken = randomToken("pokepoll_", 32);
  const expiresAt = new Date(Date.now() + CLI_LOGIN_TTL_MS);
  // Housekeeping: expired rows are useless (their codes can no longer be approved or polled).
  await createCliLogin(
    { codeHash: hashSecret(code), pollHash: hashSecret(pollToken), expiresAt },
    CLI_LOGIN_TTL_MS,
  );
  const approveUrl = new URL("/cli/approve", env().APP_URL);
  approveUrl.searchParams.set("code", code);
  if (host) approveUrl.searchParams.set("host", cleanHostLabel(host));
  return { code, pollToken, approveUrl: approveUrl.href, expiresAt, intervalMs: POLL_INTERVAL_MS };
}

/** A login the browser may still approve, or null (unknown, expired, already decided). */
export async function findPendingLogin(code: string) {
  const row = await findCliLogin(hashSecret(normalizeCode(code)));
  if (!row || row.approvedAt || row.expiresAt < new Date()) return null;
  return { expiresAt: row.expiresAt };
}

/** The signed-in person approves: mint a token for them and park it (encrypted) for the poller. */
export async function approveCliLogin(user: SessionUser, code: string, host?: string): Promise<void> {
  const row = await findCliLogin(hashSecret(normalizeCode(code)));
  if (!row || row.approvedAt || row.expiresAt < new Date()) {
    throw new AppError("invalid_code", "This login code is unknown or expired. Run `poke login` again.", 404);
  }
  const created = await createApiToken(user, {
    name: `CLI (${cleanHostLabel(host)})`,
    expiresInDays: undefined,
  });
  if (!(await approveCliLoginRow(row.id, user, created.token))) {
    // Someone approved (or it expired) in between: the token we just made must not linger.
    await revokeApiToken(user, created.id);
    throw new AppError("invalid_code", "This login code was already used. Run `poke login` again.", 409);
  }
  await audit(user.id, "cli_login.approve", { type: "api_token", id: created.id });
}

/** The person declines: the code dies at once. */
export async function denyCliLogin(code: string): Promise<void> {
  await deleteUnapprovedCliLogin(hashSecret(normalizeCode(code)));
}

export type PollResult =
  | { state: "pending"; intervalMs: number }
  | { state: "approved"; token: string; user: { email: string } }
  | { state: "expired" | "denied" | "used" };

/** Polled by the CLI. The token is released once: delivery and erasure happen in one conditional update. */
export async function pollCliLogin(pollToken: string): Promise<PollResult> {
  if (typeof pollToken !== "string" || !pollToken.startsWith("pokepoll_") || pollToken.length > 200) {
    return { state: "denied" };
  }
  const row = await findCliLoginByPoll(hashSecret(pollToken));
  if (!row) return { state: "denied" };
  if (row.deliveredAt) return { state: "used" };
  if (!row.approvedAt)
    return row.expiresAt < new Date()
      ? { state: "expired" }
      : { state: "pending", intervalMs: POLL_INTERVAL_MS };
  const token = row.user && (await row.claim());
  if (!token || !row.user) return { state: "used" };
  return { state: "approved", token, user: { email: row.user.email } };
}
