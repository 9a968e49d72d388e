"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { createToolset, deleteToolset, updateToolset } from "@/lib/data/toolsets";
import { idSchema } from "@/lib/schemas/integrations";
import { toolsetCreateSchema, toolsetUpdateSchema } from "@/lib/schemas/toolsets";

export const createToolsetAction = defineAction(toolsetCreateSchema, async (input, user) => {
  const t = await createToolset(user, input);
  revalidatePath("/toolsets");
  return { id: t.id };
});

export const updateToolsetAction = defineAction(
  toolsetUpdateSchema.extend({ id: idSchema }),
  async ({ id, ...patch }, user) => {
    await updateToolset(user, id, patch);
    revalidatePath("/toolsets");
    revalidatePath(`/toolsets/${id}`);
    return { id };
  },
);

export const deleteToolsetAction = defineAction(z.object({ id: idSchema }), async ({ id }, user) => {
  await deleteToolset(user, id);
  revalidatePath("/toolsets");
  revalidatePath("/settings");
  return null;
});
