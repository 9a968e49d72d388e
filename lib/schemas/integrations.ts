import { z } from "zod";
import { NAME_RULE, normalizeServerUrl } from "@/lib/schemas/names";

export { NAME_PATTERN, NAME_RULE, checkName, normalizeServerUrl } from "@/lib/schemas/names";

/** Integration names, and template names (a template's name becomes the installed integration's name). */
export const nameSchema = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `Give the ${what} a name`)
    .max(64, "Use at most 64 characters")
    .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, NAME_RULE);

export const urlSchema = z
  .string()
  .trim()
  .min(1, "Enter the MCP server URL")
  .max(2048, "The URL is too long")
  .transform(normalizeServerUrl);

/** A credential or identifier sent in a header or form field: visible ASCII only. */
export const visible = (what: string, max: number) =>
  z
    .string()
    .trim()
    .max(max, `The ${what} is too long`)
    .regex(/^[\x21-\x7e]*$/, `The ${what} may only contain visible ASCII characters`);

export const apiKeySchema = visible("API key", 4096);
const name = nameSchema("integration");

export const integrationCreateSchema = z.object({
  name,
  url: urlSchema,
  apiKey: apiKeySchema.optional().transform((k) => k || undefined),
});
export type IntegrationCreateInput = z.input<typeof integrationCreateSchema>;

export const integrationUpdateSchema = z.object({
  name: name.optional(),
  url: urlSchema.optional(),
  // undefined keeps the key, "" removes it
  apiKey: apiKeySchema.optional(),
  storePayloads: z.boolean().optional(),
});
export type IntegrationUpdateInput = z.input<typeof integrationUpdateSchema>;

export const toolCallSchema = z.object({
  arguments: z.record(z.string(), z.unknown()).default({}),
  timeoutMs: z.number().int().positive().max(300_000).optional(),
});
export type ToolCallInput = z.input<typeof toolCallSchema>;

export const idSchema = z.string().min(1).max(64);
