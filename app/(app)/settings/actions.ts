"use server";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { createApiToken, revokeApiToken } from "@/lib/data/api-tokens";
import { setTokenScope } from "@/lib/data/toolsets";
import { apiTokenCreateSchema } from "@/lib/schemas/auth";
import { idSchema } from "@/lib/schemas/integrations";
import { tokenScopeSchema } from "@/lib/schemas/toolsets";
import { revalidatePath } from "next/cache";

export const createTokenAction = defineAction(
  apiTokenCreateSchema.extend(tokenScopeSchema.shape),
  async ({ toolsetIds, searchMode, ...input }, user) => {
    const t = await createApiToken(user, input, { toolsetIds, searchMode });
    revalidatePath("/settings");
    revalidatePath("/toolsets", "layout");
    return { token: t.token, name: t.name };
  },
);

/** Which toolsets a token reaches (none: the whole /api/mcp) and its search mode there. */
export const setTokenScopeAction = defineAction(
  tokenScopeSchema.extend({ id: idSchema }),
  async ({ id, ...scope }, user) => {
    const s = await setTokenScope(user, id, scope);
    revalidatePath("/settings");
    revalidatePath("/toolsets", "layout");
    return s;
  },
);

export const revokeTokenAction = defineAction(
  z.object({ id: z.string().min(1).max(64) }),
  async ({ id }, user) => {
    await revokeApiToken(user, id);
    revalidatePath("/settings");
    return null;
  },
);
