"use server";
import { revalidatePath } from "next/cache";
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import {
  callIntegrationTool,
  createIntegration,
  deleteIntegration,
  diagnoseIntegration,
  disconnectIntegration,
  resyncIntegration,
  setToolEnabled,
  updateIntegration,
} from "@/lib/data/integrations";
import { checkToolArguments } from "@/lib/mcp/schema-check";
import { idSchema, integrationCreateSchema, integrationUpdateSchema } from "@/lib/schemas/integrations";

export const createIntegrationAction = defineAction(integrationCreateSchema, async (input, user) => {
  const res = await createIntegration(user, input);
  revalidatePath("/integrations");
  return res;
});

export const updateIntegrationAction = defineAction(
  integrationUpdateSchema.extend({ id: idSchema }),
  async ({ id, ...patch }, user) => {
    const res = await updateIntegration(user, id, patch);
    revalidatePath(`/integrations/${id}`);
    return res;
  },
);

export const deleteIntegrationAction = defineAction(z.object({ id: idSchema }), async ({ id }, user) => {
  await deleteIntegration(user, id);
  revalidatePath("/integrations");
  return null;
});

export const resyncAction = defineAction(z.object({ id: idSchema }), async ({ id }, user) => {
  const diff = await resyncIntegration(user, id);
  revalidatePath(`/integrations/${id}`);
  return diff;
});

export const setToolEnabledAction = defineAction(
  z.object({ id: idSchema, tool: z.string().min(1).max(256), enabled: z.boolean() }),
  async ({ id, tool, enabled }, user) => {
    await setToolEnabled(user, id, tool, enabled);
    revalidatePath(`/integrations/${id}`);
    return null;
  },
);

export const doctorAction = defineAction(z.object({ id: idSchema }), async ({ id }, user) =>
  diagnoseIntegration(user, id),
);

export const callToolAction = defineAction(
  z.object({ id: idSchema, tool: z.string().min(1).max(256), arguments: z.record(z.string(), z.unknown()) }),
  async ({ id, tool, arguments: args }, user) =>
    callIntegrationTool(user, id, tool, { arguments: args }, "playground"),
);

/** The playground's live check of arguments against the tool's schema (nothing is sent to the server). */
export const checkToolArgumentsAction = defineAction(
  z.object({ id: idSchema, tool: z.string().min(1).max(256), arguments: z.record(z.string(), z.unknown()) }),
  async ({ id, tool, arguments: args }, user) => checkToolArguments(user.id, id, tool, args),
);

export const disconnectAction = defineAction(z.object({ id: idSchema }), async ({ id }, user) => {
  const res = await disconnectIntegration(user, id);
  revalidatePath(`/integrations/${id}`);
  return res;
});
