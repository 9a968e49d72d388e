import { z } from "zod";
import { idSchema } from "@/lib/schemas/integrations";

export const TOOLSET_DESCRIPTION_MAX = 2_000;
export const TOOLSET_ITEMS_MAX = 1_000;

export const RESERVED_TOOLSET_NAMES = new Set(["sse"]);

/** A toolset's name is its endpoint's path segment (/api/mcp/<name>): URL-safe, no spaces. */
export const toolsetNameSchema = z
  .string()
  .trim()
  .min(1, "Give the toolset a name")
  .max(64, "Use at most 64 characters")
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    "Use letters, digits, dots, dashes and underscores (the name is part of the endpoint's URL)",
  )
  // Paths of the endpoint itself (/api/mcp/sse: the HTTP+SSE transport).
  .refine((n) => !RESERVED_TOOLSET_NAMES.has(n.toLowerCase()), "This name is reserved: choose another");

/** One selection: a tool of an integration, or every tool of it (toolName "" or left out). */
export const toolsetItemSchema = z.object({
  integrationId: idSchema,
  toolName: z.string().max(256, "Tool names are at most 256 characters").default(""),
});
export type ToolsetItemInput = z.input<typeof toolsetItemSchema>;

const description = z
  .string()
  .trim()
  .max(TOOLSET_DESCRIPTION_MAX, `Use at most ${TOOLSET_DESCRIPTION_MAX} characters`);
const items = z.array(toolsetItemSchema).max(TOOLSET_ITEMS_MAX, `At most ${TOOLSET_ITEMS_MAX} selections`);

export const toolsetCreateSchema = z.object({
  name: toolsetNameSchema,
  description: description.default(""),
  readOnly: z.boolean().default(false),
  searchMode: z.boolean().default(false),
  items: items.default([]),
});
export type ToolsetCreateInput = z.input<typeof toolsetCreateSchema>;

/** Fields left out stay as they are; `items`, when given, replaces the whole selection. */
export const toolsetUpdateSchema = z.object({
  name: toolsetNameSchema.optional(),
  description: description.optional(),
  readOnly: z.boolean().optional(),
  searchMode: z.boolean().optional(),
  items: items.optional(),
});
export type ToolsetUpdateInput = z.input<typeof toolsetUpdateSchema>;

/** A token's scope: no toolsets = the whole /api/mcp endpoint. */
export const tokenScopeSchema = z.object({
  toolsetIds: z.array(idSchema).max(100, "At most 100 toolsets").default([]),
  searchMode: z.boolean().default(false),
});
export type TokenScopeInput = z.input<typeof tokenScopeSchema>;
