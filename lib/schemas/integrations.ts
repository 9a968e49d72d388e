import { z } from "zod";

/** Integration names, and template names (a template's name becomes the installed integration's name). */
export const nameSchema = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `Give the ${what} a name`)
    .max(64, "Use at most 64 characters")
    .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, NAME_RULE);

/** The characters a name may hold, for a form field's `pattern` and hint. */
export const NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9 _.\\-]*";
export const NAME_RULE = "Use letters, digits, spaces, dots, dashes and underscores";

// Hosts a person reaches over plain http without a second thought: this machine.
const LOOPBACK_HOST = /^(localhost|[^/?#]*\.localhost|127(\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0)$/i;

/**
 * A server URL as typed, with the scheme a person leaves out filled in: `localhost:3402/mcp` means
 * http://localhost:3402/mcp (loopback), `mcp.example.com/mcp` means https://mcp.example.com/mcp. Anything
 * that already names a scheme is returned as typed (trimmed), for the egress check to judge.
 */
export function normalizeServerUrl(raw: string): string {
  const text = raw.trim();
  if (!text || /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || !/^[A-Za-z0-9[]/.test(text)) return text;
  const authority = text.split(/[/?#]/, 1)[0];
  const host = authority.replace(/^.*@/, "").replace(/:\d*$/, "");
  return `${LOOPBACK_HOST.test(host) ? "http" : "https"}://${text}`;
}

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
