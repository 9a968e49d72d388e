"use server";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { createApiToken, revokeApiToken } from "@/lib/data/api-tokens";
import { apiTokenCreateSchema } from "@/lib/schemas/auth";
import { revalidatePath } from "next/cache";

export const createTokenAction = defineAction(apiTokenCreateSchema, async (input, user) => {
  const t = await createApiToken(user, input);
  revalidatePath("/settings");
  return { token: t.token, name: t.name };
});

export const revokeTokenAction = defineAction(
  z.object({ id: z.string().min(1).max(64) }),
  async ({ id }, user) => {
    await revokeApiToken(user, id);
    revalidatePath("/settings");
    return null;
  },
);
