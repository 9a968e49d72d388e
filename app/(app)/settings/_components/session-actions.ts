"use server";
// Sessions and password (docs/security.md §26): each action ends sessions server-side.
import { revalidatePath } from "next/cache";
import { headers } from "next/headers";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { clientAddress } from "@/lib/auth/client-address";
import { SignInThrottled, throttledSignIn } from "@/lib/auth/login-throttle";
import { currentSession } from "@/lib/auth/session";
import { revokeSession, revokeUserSessions } from "@/lib/data/sessions";
import { changePassword } from "@/lib/data/users";
import { AppError, isAppError } from "@/lib/errors";
import { changePasswordSchema } from "@/lib/schemas/auth";

/** "Sign out everywhere": every session of the person ends, this one included. */
export const signOutEverywhereAction = defineAction(z.object({}), async (_input, user) => {
  const ended = await revokeUserSessions(user.id);
  return { ended };
});

export const revokeSessionAction = defineAction(
  z.object({ id: z.string().min(1).max(64) }),
  async ({ id }, user) => {
    await revokeSession(user, id);
    revalidatePath("/settings");
    return null;
  },
);

/**
 * A new password ends every other session; this one stays signed in. Checking the current password counts
 * as a sign-in attempt (docs/security.md §25): a stolen session can't be used to guess it.
 */
export const changePasswordAction = defineAction(changePasswordSchema, async (input, user) => {
  const current = await currentSession();
  const attempt = async () => {
    try {
      await changePassword(user, input, current?.sessionId);
      return true;
    } catch (e) {
      if (isAppError(e) && e.code === "wrong_password") return null;
      throw e;
    }
  };
  try {
    if (!(await throttledSignIn(user.email, clientAddress(await headers()), attempt)))
      throw new AppError("wrong_password", "The current password is wrong", 400);
  } catch (e) {
    if (e instanceof SignInThrottled)
      throw new AppError("rate_limited", `Too many attempts, try again in ${e.retryAfterSec} s.`, 429);
    throw e;
  }
  revalidatePath("/settings");
  return null;
});
