"use server";
// Reading resources and getting prompts of an integration, for its page and the playground's result view
// (resource links). Owner-scoped in lib/data; a foreign id is "not found".
import { z } from "zod";
import { defineAction } from "@/lib/actions";
import { getIntegrationPrompt, readIntegrationResource } from "@/lib/data/resources";
import { idSchema } from "@/lib/schemas/integrations";

const uriSchema = z.string().trim().min(1, "Enter a resource URI").max(4096, "The URI is too long");

export const readResourceAction = defineAction(
  z.object({ id: idSchema, uri: uriSchema }),
  async ({ id, uri }, user) => readIntegrationResource(user, id, uri),
);

export const getPromptAction = defineAction(
  z.object({
    id: idSchema,
    name: z.string().min(1).max(256),
    arguments: z.record(z.string().max(256), z.string().max(64 * 1024)).default({}),
  }),
  async ({ id, name, arguments: args }, user) => getIntegrationPrompt(user, id, name, args),
);
