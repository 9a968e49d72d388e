// Sign-in throttling (docs/security.md §25). A password attempt counts against its account and its client
// address before the password is checked: 5 per account or 20 per address within 15 minutes, then a block of
// 30 s (account) or 60 s (address) that doubles with each further five (twenty) attempts, never beyond 5
// (10) minutes — long enough to make guessing pointless, short enough that an attacker can't lock the real
// person out for long. A correct password clears the account's count and gives the address its attempt back.
// `POST /api/cli/login` counts every call per address: 10 a minute.
import { addressBucket } from "@/lib/auth/client-address";
import { clearAttempts, releaseAttempt, reserveAttempt, type ThrottlePolicy } from "@/lib/data/throttle";
import { AppError } from "@/lib/errors";

export const ACCOUNT_POLICY: ThrottlePolicy = { max: 5, windowSec: 900, blockSec: 30, blockMaxSec: 300 };
export const ADDRESS_POLICY: ThrottlePolicy = { max: 20, windowSec: 900, blockSec: 60, blockMaxSec: 600 };
export const CLI_LOGIN_POLICY: ThrottlePolicy = { max: 10, windowSec: 60, blockSec: 60, blockMaxSec: 600 };

/** The sign-in error code carrying the wait, as next-auth passes it to the sign-in page. */
export const THROTTLED_PREFIX = "TooManyAttempts:";

export class SignInThrottled extends Error {
  constructor(readonly retryAfterSec: number) {
    super(`${THROTTLED_PREFIX}${retryAfterSec}`);
  }
}

/**
 * Runs `check` (the password check) as one counted attempt of `email` from `address`. Throws SignInThrottled
 * while either is blocked.
 */
export async function throttledSignIn<T>(email: string, address: string, check: () => Promise<T | null>) {
  const byAddress = await reserveAttempt(`ip:${addressBucket(address)}`, ADDRESS_POLICY);
  if (!byAddress.allowed) throw new SignInThrottled(byAddress.retryAfterSec);
  const byAccount = await reserveAttempt(`account:${email.trim().toLowerCase()}`, ACCOUNT_POLICY);
  if (!byAccount.allowed) {
    await releaseAttempt(byAddress); // refused unheard: not a failure of this address
    throw new SignInThrottled(byAccount.retryAfterSec);
  }
  const result = await check();
  if (result) {
    await clearAttempts(byAccount.key);
    await releaseAttempt(byAddress);
  }
  return result;
}

/** `POST /api/cli/login` from `address`: 429 with Retry-After past the limit. */
export async function throttleCliLogin(address: string): Promise<void> {
  const r = await reserveAttempt(`cli-login:${addressBucket(address)}`, CLI_LOGIN_POLICY);
  if (!r.allowed)
    throw new AppError("rate_limited", `Too many attempts, try again in ${r.retryAfterSec} s.`, 429, {
      retryAfterSec: r.retryAfterSec,
    });
}
