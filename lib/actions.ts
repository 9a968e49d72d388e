// The one wrapper for server actions: authenticate (admin re-read from the DB), validate, call lib/data.
import "server-only";
import { z, ZodError } from "zod";
import { currentUser } from "@/lib/auth/session";
import type { SessionUser } from "@/lib/data/users";
import { isAppError } from "@/lib/errors";
import { log } from "@/lib/log";

export type ActionResult<T = unknown> =
  { ok: true; data: T } | { ok: false; error: string; fieldErrors?: Record<string, string> };

type Opts = { admin?: boolean; public?: boolean };

function fromFormData(input: unknown): unknown {
  if (!(input instanceof FormData)) return input;
  const out: Record<string, unknown> = {};
  for (const [k, v] of input.entries())
    if (!k.startsWith("$ACTION")) out[k] = typeof v === "string" ? v : v.name;
  return out;
}

export function defineAction<S extends z.ZodType, T>(
  schema: S,
  fn: (input: z.infer<S>, user: SessionUser) => Promise<T>,
  opts: Opts = {},
) {
  return async (input: unknown): Promise<ActionResult<T>> => {
    try {
      const user = await currentUser();
      if (!user && !opts.public) return { ok: false, error: "Sign in first" };
      if (opts.admin && user?.role !== "admin") return { ok: false, error: "Not found" };
      const parsed = schema.safeParse(fromFormData(input));
      if (!parsed.success) {
        const fieldErrors: Record<string, string> = {};
        for (const i of parsed.error.issues) fieldErrors[i.path.join(".") || "_"] ??= i.message;
        return { ok: false, error: parsed.error.issues[0]?.message ?? "Invalid input", fieldErrors };
      }
      return { ok: true, data: await fn(parsed.data, user as SessionUser) };
    } catch (e) {
      if (isAppError(e)) {
        // An error about one field (details.field) is also shown at that field.
        const field = typeof e.details?.field === "string" ? e.details.field : undefined;
        return { ok: false, error: e.message, ...(field ? { fieldErrors: { [field]: e.message } } : {}) };
      }
      if (e instanceof ZodError) return { ok: false, error: e.issues[0]?.message ?? "Invalid input" };
      log.error("server action failed", e);
      return { ok: false, error: "Something went wrong. Please try again." };
    }
  };
}
