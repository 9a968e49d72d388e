"use server";
// Sessions and password (docs/security.md §26): each action ends sessions server-side.
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { currentSession } from "@/lib/auth/session";
import { revokeSession, revokeUserSessions } from "@/lib/data/sessions";
import { changePassword } from "@/lib/data/users";
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

/** A new password ends every other session; this one stays signed in. */
export const changePasswordAction = defineAction(changePasswordSchema, async (input, user) => {
  const current = await currentSession();
  await changePassword(user, input, current?.sessionId);
  revalidatePath("/settings");
  return null;
});
