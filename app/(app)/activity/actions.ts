"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { updateIntegration } from "@/lib/data/integrations";
import { idSchema } from "@/lib/schemas/integrations";

/** Turns storing (redacted, size-capped) call arguments and results on or off for one integration. */
export const setStorePayloadsAction = defineAction(
  z.object({ id: idSchema, enabled: z.boolean() }),
  async ({ id, enabled }, user) => {
    await updateIntegration(user, id, { storePayloads: enabled });
    revalidatePath("/activity");
    revalidatePath(`/integrations/${id}`);
    return { enabled };
  },
);
