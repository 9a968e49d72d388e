// Route-handler wrappers: authenticate inside the handler, map errors to JSON, cap bodies.
import "server-only";
import { z, ZodError } from "zod";
import { authenticateApiToken } from "@/lib/data/api-tokens";
import { assertUnscopedToken } from "@/lib/data/toolsets";
import type { SessionUser } from "@/lib/data/users";
import { currentUser } from "@/lib/auth/session";
import { env } from "@/lib/env";
import { AppError, isAppError } from "@/lib/errors";
import { log } from "@/lib/log";

const MAX_JSON_BODY = 1024 * 1024;

type Params = Record<string, string>;
type Ctx = { user: SessionUser; req: Request; params: Params };
type Handler = (ctx: Ctx) => Promise<Response>;
type RouteCtx = { params: Promise<Params> };

export function jsonError(code: string, message: string, status: number, headers?: HeadersInit) {
  return Response.json({ error: { code, message } }, { status, headers });
}

export function errorResponse(e: unknown, where: string): Response {
  if (isAppError(e)) {
    const headers: Record<string, string> = {};
    if (e.status === 401) headers["WWW-Authenticate"] = 'Bearer realm="poke"';
    if (typeof e.details?.retryAfterSec === "number")
      headers["Retry-After"] = String(e.details.retryAfterSec);
    return jsonError(e.code, e.message, e.status, headers);
  }
  if (e instanceof ZodError) {
    const issue = e.issues[0];
    const field = issue?.path.join(".");
    return jsonError(
      "invalid_input",
      field ? `${field}: ${issue.message}` : (issue?.message ?? "Invalid input"),
      400,
    );
  }
  log.error(`unhandled error in ${where}`, e);
  return jsonError("internal", "Something went wrong. Please try again.", 500);
}

/** Reads a JSON body with a size cap; an empty body is `{}`. */
export async function readJson(req: Request): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? 0);
  if (declared > MAX_JSON_BODY) throw new AppError("too_large", "Request body is too large (max 1 MiB)", 413);
  const text = await req.text();
  if (text.length > MAX_JSON_BODY)
    throw new AppError("too_large", "Request body is too large (max 1 MiB)", 413);
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("invalid_json", "Request body is not valid JSON", 400);
  }
}

export async function parseBody<T extends z.ZodType>(req: Request, schema: T): Promise<z.infer<T>> {
  return schema.parse(await readJson(req));
}

/** /api/v1/** — authenticated by `Authorization: Bearer <API token>`. */
export function withApiToken(handler: Handler) {
  return async (req: Request, ctx: RouteCtx) => {
    try {
      const token = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
      if (!token)
        throw new AppError("unauthorized", "Send an API token as Authorization: Bearer <token>", 401);
      const user = await authenticateApiToken(token);
      await assertUnscopedToken(user.id, user.tokenId);
      return await handler({ user, req, params: await ctx.params });
    } catch (e) {
      return errorResponse(e, new URL(req.url).pathname);
    }
  };
}

/** Session-cookie routes. State-changing methods must come from our own origin. */
export function withUser(handler: Handler, opts: { admin?: boolean } = {}) {
  return async (req: Request, ctx: RouteCtx) => {
    try {
      if (!["GET", "HEAD", "OPTIONS"].includes(req.method)) assertSameOrigin(req);
      const user = await currentUser();
      if (!user) throw new AppError("unauthorized", "Sign in first", 401);
      if (opts.admin && user.role !== "admin") throw new AppError("not_found", "Not found", 404);
      return await handler({ user, req, params: await ctx.params });
    } catch (e) {
      return errorResponse(e, new URL(req.url).pathname);
    }
  };
}

export function assertSameOrigin(req: Request) {
  const origin = req.headers.get("origin");
  const allowed = new Set([env().APP_URL, new URL(req.url).origin]);
  if (!origin || origin === "null" || !allowed.has(origin))
    throw new AppError("bad_origin", "Cross-origin request refused", 403);
}
