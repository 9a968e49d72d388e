// The direct path for JSON API routes. A route file registers its exported handlers here when Next.js
// loads it; from then on server.ts hands matching requests straight to those same functions, skipping
// Next.js's per-request routing and render pipeline (bench/README.md: most of the added call latency).
// There is still one implementation: the route file's own handlers (withApiToken: auth, validation, limits,
// error shapes); server.ts only adds what Next.js would add around them (next.config headers).
// Not a route file itself (no route.ts name), so Next.js serves nothing from it.
import "server-only";
import { errorResponse } from "@/lib/http";

type Params = Record<string, string>;
type RouteHandler = (req: Request, ctx: { params: Promise<Params> }) => Promise<Response>;

/** What server.ts reads: a path pattern's segments ("[id]" for a parameter) and its handlers by method. */
export type DirectRoute = {
  segments: string[];
  handlers: Record<string, (req: Request, params: Params) => Promise<Response>>;
};

const routes = ((globalThis as { __pokeDirectRoutes?: Map<string, DirectRoute> }).__pokeDirectRoutes ??=
  new Map());

/**
 * Registers a route file's handlers under its path pattern, e.g. "/api/v1/integrations/[id]/tools".
 * Only for handlers that answer with a complete JSON body (no streams): server.ts buffers the response.
 */
export function serveDirectly(pattern: string, handlers: Record<string, RouteHandler>): void {
  const segments = pattern.split("/").filter(Boolean);
  const wrapped: DirectRoute["handlers"] = {};
  for (const [method, handler] of Object.entries(handlers)) {
    // The wrappers already answer every error; this only keeps a bug from escaping as a dropped socket.
    wrapped[method] = (req, params) =>
      handler(req, { params: Promise.resolve(params) }).catch((e: unknown) => errorResponse(e, pattern));
  }
  routes.set(pattern, { segments, handlers: wrapped });
}
