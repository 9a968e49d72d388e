import { z } from "zod";

const name = z
  .string()
  .trim()
  .min(1, "Give the integration a name")
  .max(64, "Use at most 64 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, "Use letters, digits, spaces, dots, dashes and underscores");

const url = z.string().trim().min(1, "Enter the MCP server URL").max(2048, "The URL is too long");

const apiKey = z
  .string()
  .trim()
  .max(4096, "The API key is too long")
  .regex(/^[\x21-\x7e]*$/, "The API key may only contain visible ASCII characters");

export const integrationCreateSchema = z.object({
  name,
  url,
  apiKey: apiKey.optional().transform((k) => k || undefined),
});
export type IntegrationCreateInput = z.input<typeof integrationCreateSchema>;

export const integrationUpdateSchema = z.object({
  name: name.optional(),
  url: url.optional(),
  // undefined keeps the key, "" removes it
  apiKey: apiKey.optional(),
  storePayloads: z.boolean().optional(),
});
export type IntegrationUpdateInput = z.input<typeof integrationUpdateSchema>;

export const toolCallSchema = z.object({
  arguments: z.record(z.string(), z.unknown()).default({}),
  timeoutMs: z.number().int().positive().max(300_000).optional(),
});
export type ToolCallInput = z.input<typeof toolCallSchema>;

export const idSchema = z.string().min(1).max(64);
