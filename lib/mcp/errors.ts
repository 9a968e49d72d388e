// Turns whatever the SDK or the network threw into one AppError a person can act on.
// Server-supplied text is quoted as data, shortened, never trusted as markup.
import {
  InsufficientScopeError,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  SseError,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import { ZodError } from "zod";
import { AppError, findCause, isAppError } from "@/lib/errors";
import { isOversizedRpcError } from "@/lib/net/egress";
import { tunnelFailureOf, tunnelIdOf, tunnelOfflineError } from "@/lib/tunnel/fetch";
import { liveTunnel } from "@/lib/tunnel/registry";

/**
 * What the caller knows beside the error itself. The fields after `oauthGranted` are what one connect
 * attempt saw on the wire (lib/mcp/connect.ts); a failure's own cause always comes from the error.
 */
export type ErrorContext = {
  url: URL;
  hasApiKey: boolean;
  /** OAuth tokens were sent (and refreshed where possible): a 401 now means the grant is no good. */
  oauthGranted?: boolean;
  /** WWW-Authenticate of the last 401 from the MCP origin */
  challenge?: string;
  lastStatus?: number;
  lastContentType?: string;
  /** status that made the Streamable HTTP attempt fall back to SSE */
  streamableStatus?: number;
  triedSse?: boolean;
};

/** Server text shown to users: one line, bounded. */
export function quoteServerText(text: unknown, max = 200): string {
  const s = String(text ?? "")
    .replace(/[\u0000-\u001f\u007f]+/g, " ")
    .trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A 401 without an API key from a server that names no authorization server: either kind may fit. */
export const UNAUTHORIZED_NO_KEY_MESSAGE = "The server answered 401: add an API key or connect with OAuth.";

/** Bounded step-up (docs/security.md §8): at most this many scope tokens, each an RFC 6749 scope-token. */
const MAX_STEP_UP_SCOPES = 32;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

/** The scope a 403 insufficient_scope challenge asks for, as validated scope tokens (or undefined). */
export function requiredScopeOf(raw: string | undefined): string | undefined {
  const tokens = [...new Set((raw ?? "").split(" ").filter(Boolean))];
  if (!tokens.length || tokens.length > MAX_STEP_UP_SCOPES || !tokens.every((t) => SCOPE_TOKEN.test(t)))
    return undefined;
  return tokens.join(" ");
}

function insufficientScope(err: InsufficientScopeError): AppError {
  const scope = requiredScopeOf(err.requiredScope);
  return new AppError(
    "insufficient_scope",
    scope
      ? `The server needs more access for this (scope: ${quoteServerText(scope, 300)}): grant it from the integration page.`
      : "The server needs more access for this than Poke was granted: reconnect to grant it.",
    403,
    scope ? { scope } : undefined,
  );
}

/**
 * The server uses OAuth (its 401 or its metadata says so) and Poke holds no grant for it yet. The scope
 * its 401 challenge names, if any, is what the authorization asks for (docs/oauth.md).
 */
export function oauthRequired(challenge?: string): AppError {
  const scope = requiredScopeOf(/\bscope="([^"]*)"/i.exec(challenge ?? "")?.[1]);
  return new AppError(
    "needs_auth",
    "The server requires authorization: connect with OAuth to grant access.",
    401,
    { challenge: true, ...(scope ? { scope } : {}) },
  );
}

function unauthorized(ctx: ErrorContext): AppError {
  if (ctx.oauthGranted)
    return new AppError(
      "needs_reauth",
      "The server rejected Poke's authorization: reconnect to authorize again.",
      401,
    );
  if (/resource_metadata/i.test(ctx.challenge ?? "")) return oauthRequired(ctx.challenge);
  return ctx.hasApiKey
    ? new AppError(
        "unauthorized",
        "The server answered 401 and rejected the API key: check or replace the key.",
        401,
      )
    : new AppError("unauthorized", UNAUTHORIZED_NO_KEY_MESSAGE, 401);
}

function httpStatusError(status: number, ctx: ErrorContext, message: string): AppError {
  if (status === 401) return unauthorized(ctx);
  if (status === 403)
    return new AppError(
      "forbidden",
      "The server answered 403 Forbidden: the key or account lacks access to it.",
      403,
    );
  if (status === 404 || status === 405 || status === 400) {
    return new AppError(
      "not_mcp",
      `No MCP endpoint answered at ${ctx.url.href} (HTTP ${status}). Check the path — it is often /mcp or /sse.`,
      502,
      { status, detail: quoteServerText(message) },
    );
  }
  if (status >= 300 && status < 400) {
    return new AppError(
      "redirect_refused",
      `${ctx.url.host} redirected the request elsewhere (HTTP ${status}); Poke doesn't follow MCP redirects across origins. Use the final URL.`,
      502,
    );
  }
  if (status === 429)
    return new AppError("rate_limited", "The server is rate-limiting requests (429). Try again later.", 429);
  if (status >= 500) {
    return new AppError(
      "server_error",
      `The server failed with HTTP ${status}. Try again later or check its logs.`,
      502,
      { status },
    );
  }
  return new AppError("http_error", `The server answered HTTP ${status}.`, 502, { status });
}

function notMcp(ctx: ErrorContext, what: string): AppError {
  return new AppError(
    "not_mcp",
    `${ctx.url.host} answered with ${what}, not MCP. Check that the URL points at the MCP endpoint.`,
    502,
  );
}

// The legacy SSE transport reports a failed POST as a plain Error: its text is the only place the
// status is given.
const SSE_POST_STATUS = /^Error POSTing to endpoint \(HTTP (\d{3})\)/;

/** By name too: a dependency may bundle its own zod copy. */
function isZodError(err: unknown): boolean {
  return err instanceof ZodError || (err as { name?: unknown } | null)?.name === "ZodError";
}

/**
 * Classifies an error from connecting to or talking with an MCP server. Network failures arrive as the
 * egress or tunnel fetch's AppError, rethrown by the SDK or kept as the `cause` of its own error; the rest
 * is told apart by the SDK's error types and codes.
 */
export function classifyMcpError(err: unknown, ctx: ErrorContext): AppError {
  const app = findCause(err, isAppError);
  if (app) return app;
  // The tunnel failed under a request's event stream: answered in its place (lib/tunnel/fetch.ts).
  const tunnelFailure = err instanceof ProtocolError ? tunnelFailureOf(err) : undefined;
  if (tunnelFailure) return tunnelFailure;
  // Whatever the SDK made of it, a request to a tunnel that has dropped failed because the tunnel is gone.
  const tunnelId = tunnelIdOf(ctx.url);
  if (tunnelId && !liveTunnel(tunnelId)) return tunnelOfflineError();
  const scopeErr = findCause(err, (e): e is InsufficientScopeError => e instanceof InsufficientScopeError);
  if (scopeErr) return insufficientScope(scopeErr);
  if (err instanceof UnauthorizedError)
    return unauthorized({ ...ctx, challenge: ctx.challenge || "resource_metadata" });
  if (err instanceof SdkHttpError) return httpStatusError(err.status, ctx, err.message);
  if (err instanceof SdkError) {
    switch (err.code) {
      case SdkErrorCode.RequestTimeout:
        return new AppError("timeout", `${ctx.url.host} did not answer in time.`, 504);
      case SdkErrorCode.ListPaginationExceeded:
        return new AppError("too_many_pages", "The server's tool list has too many pages (limit 50).", 502);
      case SdkErrorCode.ClientHttpUnexpectedContent: {
        const type = (err.data as { contentType?: unknown } | undefined)?.contentType;
        return notMcp(ctx, describeContentType(typeof type === "string" ? type : ctx.lastContentType));
      }
      case SdkErrorCode.InvalidResult:
        return notMcp(ctx, "results that do not follow the MCP schema");
      case SdkErrorCode.ConnectionClosed:
        return new AppError(
          "connection_closed",
          `The connection to ${ctx.url.host} closed unexpectedly.`,
          502,
        );
      case SdkErrorCode.EraNegotiationFailed: {
        // The probe keeps the real failure (e.g. HTML instead of JSON) as its cause: classify that instead.
        if (err.cause && err.cause !== err) return classifyMcpError(err.cause, ctx);
        if (ctx.lastStatus) return httpStatusError(ctx.lastStatus, ctx, err.message);
        return new AppError(
          "protocol_error",
          `Could not agree on an MCP protocol version with ${ctx.url.host}.`,
          502,
        );
      }
      default:
        break;
    }
  }
  if (err instanceof SseError && err.code !== undefined) {
    // The SSE stream's HTTP status: an error status, or a 2xx answer that is not an event stream.
    if (err.code >= 300) return httpStatusError(err.code, ctx, err.message);
    return notMcp(ctx, describeContentType(ctx.lastContentType));
  }
  if (err instanceof ProtocolError) {
    if (isOversizedRpcError(err)) {
      return new AppError("too_large", `${ctx.url.host}: ${quoteServerText(err.message)}`, 502);
    }
    return new AppError(
      "protocol_error",
      `The server returned an error: ${quoteServerText(err.message)}`,
      502,
      { rpcCode: err.code },
    );
  }
  if (err instanceof SyntaxError) return notMcp(ctx, "a response that is not valid JSON-RPC");
  if (isZodError(err)) return notMcp(ctx, "messages that do not follow the MCP schema");
  const message = err instanceof Error ? err.message : String(err);
  const m = SSE_POST_STATUS.exec(message);
  if (m) return httpStatusError(Number(m[1]), ctx, message);
  if (ctx.lastStatus && ctx.lastStatus >= 400) return httpStatusError(ctx.lastStatus, ctx, message);
  return new AppError(
    "protocol_error",
    `Talking to ${ctx.url.host} failed: ${quoteServerText(message)}`,
    502,
  );
}

function describeContentType(ct: string | undefined): string {
  if (!ct) return "an unexpected response";
  if (/html/i.test(ct)) return "an HTML page";
  return `content of type ${quoteServerText(ct, 60)}`;
}
