// Turns whatever the SDK or the network threw into one AppError a person can act on.
// Server-supplied text is quoted as data, shortened, never trusted as markup.
import {
  InsufficientScopeError,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import { AppError, findCause, isAppError } from "@/lib/errors";
import { OVERSIZED_RPC_CODE, type EgressFetch } from "@/lib/net/egress";

export type ErrorContext = {
  url: URL;
  hasApiKey: boolean;
  /** OAuth tokens were sent (and refreshed where possible): a 401 now means the grant is no good. */
  oauthGranted?: boolean;
  egress?: EgressFetch;
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

/** SECURITY §8 (bounded step-up): at most this many scope tokens, each a valid RFC 6749 scope-token. */
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

/** The server uses OAuth (its 401 or its metadata says so) and Poke holds no grant for it yet. */
export function oauthRequired(): AppError {
  return new AppError(
    "needs_auth",
    "The server requires authorization: connect with OAuth to grant access.",
    401,
    { challenge: true },
  );
}

function unauthorized(ctx: ErrorContext): AppError {
  if (ctx.oauthGranted)
    return new AppError(
      "needs_reauth",
      "The server rejected Poke's authorization: reconnect to authorize again.",
      401,
    );
  if (/resource_metadata/i.test(ctx.challenge ?? "")) return oauthRequired();
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
      {
        status,
      },
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

const statusInMessage =
  /\bHTTP (\d{3})\b|\(HTTP (\d{3})\)|status(?: code)?:? (\d{3})|Non-200 status code \((\d{3})\)/i;

/** Classifies an error from connecting to or talking with an MCP server. */
export function classifyMcpError(err: unknown, ctx: ErrorContext): AppError {
  const app = findCause(err, isAppError);
  if (app) return app;
  const scopeErr = findCause(err, (e): e is InsufficientScopeError => e instanceof InsufficientScopeError);
  if (scopeErr) return insufficientScope(scopeErr);
  // The SDK wraps fetch failures (e.g. "probe failed: fetch failed"); the egress knows the root cause.
  const egressErr = ctx.egress?.lastError;
  if (egressErr && !(err instanceof ProtocolError)) return egressErr;
  if (err instanceof UnauthorizedError)
    return unauthorized({ ...ctx, challenge: ctx.challenge || "resource_metadata" });
  if (err instanceof SdkHttpError) return httpStatusError(err.status, ctx, err.message);
  if (err instanceof SdkError) {
    switch (err.code) {
      case SdkErrorCode.RequestTimeout:
        return new AppError("timeout", `${ctx.url.host} did not answer in time.`, 504);
      case SdkErrorCode.ListPaginationExceeded:
        return new AppError("too_many_pages", "The server's tool list has too many pages (limit 50).", 502);
      case SdkErrorCode.ClientHttpUnexpectedContent:
        return notMcp(ctx, describeContentType(ctx.lastContentType));
      case SdkErrorCode.InvalidResult:
        return notMcp(ctx, "results that do not follow the MCP schema");
      case SdkErrorCode.ConnectionClosed:
        return new AppError(
          "connection_closed",
          `The connection to ${ctx.url.host} closed unexpectedly.`,
          502,
        );
      case SdkErrorCode.EraNegotiationFailed: {
        // The probe wraps the real failure (e.g. HTML instead of JSON): classify that instead.
        const inner = err.cause ?? (err.data as { cause?: unknown } | undefined)?.cause;
        if (inner && inner !== err) return classifyMcpError(inner, ctx);
        const status = (err as { status?: number }).status ?? ctx.lastStatus;
        if (status) return httpStatusError(status, ctx, err.message);
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
  if (err instanceof ProtocolError) {
    if (err.code === OVERSIZED_RPC_CODE && /exceeded the/.test(err.message)) {
      return new AppError("too_large", `${ctx.url.host}: ${quoteServerText(err.message)}`, 502);
    }
    return new AppError(
      "protocol_error",
      `The server returned an error: ${quoteServerText(err.message)}`,
      502,
      {
        rpcCode: err.code,
      },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof SyntaxError || /JSON|Unexpected token|parse/i.test(message)) {
    return notMcp(ctx, "a response that is not valid JSON-RPC");
  }
  const m = statusInMessage.exec(message);
  const status = m ? Number(m[1] ?? m[2] ?? m[3] ?? m[4]) : (err as { code?: unknown }).code;
  if (typeof status === "number" && status >= 400 && status < 600)
    return httpStatusError(status, ctx, message);
  if (ctx.lastStatus && ctx.lastStatus >= 400) return httpStatusError(ctx.lastStatus, ctx, message);
  if (/invalid_union|Invalid input|ZodError|expected/i.test(message)) {
    return notMcp(ctx, "messages that do not follow the MCP schema");
  }
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
