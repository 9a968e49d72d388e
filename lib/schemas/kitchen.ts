// Kitchen input schemas (templates, recipes, installs), shared by the admin UI, server actions and tests.
// Pure: no server-only imports.
import { z } from "zod";
import { apiKeySchema, nameSchema, urlSchema as url, visible } from "@/lib/schemas/integrations";

const slug = z
  .string()
  .trim()
  .max(64, "Use at most 64 characters for the slug")
  .regex(/^([a-z0-9]+(-[a-z0-9]+)*)?$/, "The slug may only contain lowercase letters, digits and dashes");

// RFC 6749 §3.3 scope-token characters, space-separated.
const scopes = z
  .string()
  .trim()
  .max(1000, "Too many scopes")
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]*( +[\x21\x23-\x5b\x5d-\x7e]+)*$/, "Separate scopes with spaces")
  .transform((s) => s.split(/ +/).filter(Boolean).join(" "));

/** Optional text: empty or absent is stored as null. */
const orNull = <T extends z.ZodType<string>>(schema: T) => schema.nullish().transform((s) => s || null);

/** Authorization parameters a template can't set: the flow's security rests on them (lib/oauth). */
export const PROTECTED_AUTH_PARAMS = [
  "response_type",
  "client_id",
  "redirect_uri",
  "state",
  "code_challenge",
  "code_challenge_method",
  "resource",
  "scope",
  "request",
  "request_uri",
  "response_mode",
];

/** "key=value" per line (or an object) → a string record; protected keys are refused with a message. */
const extraAuthParams = z.union([z.string(), z.record(z.string(), z.string())]).transform((v, ctx) => {
  const entries: [string, string][] =
    typeof v === "string"
      ? v
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter(Boolean)
          .map((l) => {
            const eq = l.indexOf("=");
            return eq < 0 ? [l, ""] : [l.slice(0, eq).trim(), l.slice(eq + 1).trim()];
          })
      : Object.entries(v);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(k)) {
      ctx.addIssue({ code: "custom", message: `"${k.slice(0, 40)}" is not a valid parameter name` });
      return z.NEVER;
    }
    if (PROTECTED_AUTH_PARAMS.includes(k.toLowerCase())) {
      ctx.addIssue({
        code: "custom",
        message: `The parameter "${k}" is set by Poke and can't be overridden`,
      });
      return z.NEVER;
    }
    if (!val || val.length > 500 || /[\x00-\x1f\x7f]/.test(val)) {
      ctx.addIssue({ code: "custom", message: `Give "${k}" a value (one line, at most 500 characters)` });
      return z.NEVER;
    }
    out[k] = val;
  }
  if (Object.keys(out).length > 20) {
    ctx.addIssue({ code: "custom", message: "At most 20 extra parameters" });
    return z.NEVER;
  }
  return out;
});

const ICON_DATA = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$/;
const iconUrl = z
  .string()
  .trim()
  .max(100_000, "The icon is too large (at most about 70 KB)")
  .refine((s) => !s || ICON_DATA.test(s) || /^https:\/\/[^\s"'<>]+$/i.test(s), {
    message: "The icon must be an https:// URL or a data:image/(png|jpeg|gif|webp);base64 URL",
  });

export const AUTH_KINDS = ["none", "api_key", "oauth"] as const;
export const TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"] as const;
export const RESOURCE_MODES = ["default", "omit", "override"] as const;

const emptyToUndefined = (v: unknown) => (v === "" || v === null ? undefined : v);

const templateFields = {
  name: nameSchema("template"),
  slug: slug.nullish().transform((s) => s || undefined),
  description: z.string().trim().max(2000, "Keep the description under 2000 characters").default(""),
  iconUrl: orNull(iconUrl),
  serverUrl: url,
  authKind: z.enum(AUTH_KINDS, { message: "Choose how users authenticate" }).default("oauth"),
  clientId: orNull(visible("client ID", 512)),
  scopes: orNull(scopes),
  issuer: orNull(z.string().trim().max(2048, "The issuer is too long")),
  resourceMode: z.enum(RESOURCE_MODES).default("default"),
  resourceOverride: orNull(z.string().trim().max(2048, "The resource is too long")),
  extraAuthParams: extraAuthParams.nullish().transform((v) => v ?? {}),
  tokenEndpointAuthMethod: z.preprocess(emptyToUndefined, z.enum(TOKEN_AUTH_METHODS).optional()),
};

/** Secret handling: write-only. Empty keeps the stored one; `clearClientSecret` removes it. */
const secretFields = {
  clientSecret: visible("client secret", 4096)
    .nullish()
    .transform((s) => s || undefined),
  clearClientSecret: z
    .preprocess((v) => v === true || v === "on" || v === "true", z.boolean())
    .default(false),
  /** private_key_jwt instead of a secret: a PEM or JWK private key (checked in lib/kitchen/templates.ts). */
  clientPrivateKey: z
    .string()
    .max(8192, "The private key is too long")
    .nullish()
    .transform((s) => s?.trim() || undefined),
  clearClientPrivateKey: z
    .preprocess((v) => v === true || v === "on" || v === "true", z.boolean())
    .default(false),
};

export const templateInputSchema = z.object({ ...templateFields, ...secretFields });
export type TemplateInput = z.input<typeof templateInputSchema>;
export type TemplateParsed = z.output<typeof templateInputSchema>;

/** The Test button: the unsaved form (nothing is stored). */
export const templateTestSchema = z.object({
  serverUrl: url,
  authKind: z.enum(AUTH_KINDS).default("oauth"),
  clientId: orNull(z.string().trim().max(512)),
  scopes: orNull(scopes),
  tokenEndpointAuthMethod: z.preprocess(emptyToUndefined, z.enum(TOKEN_AUTH_METHODS).optional()),
  issuer: orNull(z.string().trim().max(2048)),
});
export type TemplateTestInput = z.input<typeof templateTestSchema>;

export const idSchema = z.string().trim().min(1).max(64);

export const recipeItemSchema = z.object({
  templateId: idSchema,
  required: z.boolean().default(true),
});

export const recipeInputSchema = z.object({
  name: z
    .string()
    .trim()
    .min(1, "Give the recipe a name")
    .max(100, "Use at most 100 characters")
    .regex(/^[^\x00-\x1f\x7f]+$/, "The name may not contain control characters"),
  description: z.string().trim().max(2000, "Keep the description under 2000 characters").default(""),
  items: z
    .array(recipeItemSchema)
    .min(1, "Add at least one template to the recipe")
    .max(50, "A recipe can hold at most 50 templates")
    .refine((items) => new Set(items.map((i) => i.templateId)).size === items.length, {
      message: "Each template can appear only once in a recipe",
    }),
});
export type RecipeInput = z.input<typeof recipeInputSchema>;

/** Share tokens: "rcp_" + 32 random bytes in base64url (256 bits). */
export const SHARE_TOKEN_RE = /^rcp_[A-Za-z0-9_-]{43}$/;
export const shareTokenSchema = z.string().regex(SHARE_TOKEN_RE, "This link is not valid");

export const installStartSchema = z.object({
  token: shareTokenSchema,
  /** Optional items the person chose not to install. */
  skip: z.array(idSchema).max(50).default([]),
});

export const installItemSchema = z.object({ token: shareTokenSchema, templateId: idSchema });

export const installApiKeySchema = installItemSchema.extend({
  apiKey: apiKeySchema.min(1, "Enter your API key"),
});

/** Slug from a name: lowercase, dashes, at most 64 characters. */
export function slugify(name: string): string {
  return (
    name
      .toLowerCase()
      .normalize("NFKD")
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 64)
      .replace(/-+$/, "") || "template"
  );
}
