// What the OAuth flow can fail with, as AppErrors a person can act on. Server-supplied text is quoted
// (one line, bounded), never rendered as markup; the authorization response's error_description is
// never used at all.
import {
  AuthorizationServerMismatchError,
  InsecureTokenEndpointError,
  IssuerMismatchError,
  OAuthError,
  RegistrationRejectedError,
} from "@modelcontextprotocol/client";
import { ZodError } from "zod";
import { AppError, findCause, isAppError } from "@/lib/errors";
import { quoteServerText } from "@/lib/mcp/errors";

/** Messages for the `oauth_error` codes the callback puts in the integration page's URL. */
export const OAUTH_ERROR_MESSAGES: Record<string, string> = {
  access_denied: "Authorization was denied.",
  invalid_state:
    "This authorization link is invalid, expired, already used, or was started in another browser. Start again.",
  iss_mismatch: "The authorization response came from an unexpected authorization server; it was rejected.",
  issuer_mismatch:
    "The server now uses a different authorization server than its client credentials belong to.",
  token_exchange_failed: "The authorization server did not issue tokens. Try connecting again.",
  authorization_failed: "The authorization server reported an error. Try connecting again.",
  needs_reauth: "Authorization expired or was revoked: reconnect.",
};

/** The message for an `oauth_error` query value; unknown values get a generic text (never echoed). */
export function describeOAuthError(code: string | null | undefined): string {
  return (code && OAUTH_ERROR_MESSAGES[code]) || "Connecting with OAuth failed. Try again.";
}

export const REAUTH_MESSAGE = "Authorization expired or was revoked: reconnect";

export function needsReauthError(): AppError {
  return new AppError("needs_reauth", REAUTH_MESSAGE, 401);
}

/** RFC 8414 §3.3: the metadata's issuer is not the one its URL was built from. */
export function metadataIssuerMismatch(expected: string, received: string): AppError {
  return new AppError(
    "issuer_mismatch",
    `The authorization server's metadata names the issuer ${quoteServerText(received, 120)}, not ${quoteServerText(expected, 120)} it was fetched from; refusing to continue.`,
    400,
  );
}

/**
 * Maps anything the SDK's auth() (or our fetch) threw to one AppError. A failed request rejects with its
 * own AppError (lib/oauth/net.ts), which the SDK rethrows: it is found on the error or its `cause` chain.
 */
export function classifyOAuthError(err: unknown): AppError {
  const app = findCause(err, isAppError);
  if (app) return app;
  if (err instanceof IssuerMismatchError) {
    if (err.kind === "metadata")
      return metadataIssuerMismatch(err.expected ?? "(unknown)", err.received ?? "(none)");
    return new AppError("iss_mismatch", OAUTH_ERROR_MESSAGES.iss_mismatch, 400);
  }
  if (err instanceof AuthorizationServerMismatchError) {
    return new AppError(
      "issuer_mismatch",
      "The client credentials are bound to another authorization server than the one this server now names; they were not sent. An admin must update the credentials.",
      400,
    );
  }
  if (err instanceof InsecureTokenEndpointError) {
    return new AppError("unsafe_metadata", "The authorization server's token endpoint is not https.", 400);
  }
  if (err instanceof RegistrationRejectedError) {
    return new AppError(
      "registration_failed",
      `The authorization server refused to register Poke as a client (HTTP ${err.status}). An admin can supply a client id and secret instead.`,
      502,
    );
  }
  // By name too: the SDK may bundle its own zod copy.
  if (err instanceof ZodError || (err as { name?: string } | null)?.name === "ZodError") {
    const issue = (err as ZodError).issues?.[0];
    const where = issue?.path.join(".") || "document";
    return new AppError(
      "bad_metadata",
      `The authorization server sent an invalid document (${quoteServerText(where, 60)}: ${quoteServerText(issue?.message, 100)}).`,
      502,
    );
  }
  if (err instanceof OAuthError) {
    return new AppError(
      "oauth_error",
      `The authorization server answered ${quoteServerText(err.code, 40)}.`,
      502,
      { oauthCode: err.code },
    );
  }
  // A response body read past the request's time limit fails with the signal's reason.
  if ((err as { name?: unknown } | null)?.name === "TimeoutError") {
    return new AppError("timeout", "The authorization server did not answer in time.", 504);
  }
  if (err instanceof SyntaxError) {
    return new AppError(
      "bad_response",
      "The authorization server sent a response that is not valid JSON.",
      502,
    );
  }
  // The SDK throws these as plain Errors: their text is all there is to tell them apart.
  const message = err instanceof Error ? err.message : String(err);
  if (/does not support dynamic client registration/i.test(message)) {
    return new AppError(
      "client_required",
      "This server's authorization server does not support dynamic client registration: an admin must supply a client id and secret (a Kitchen template) to connect it.",
      400,
    );
  }
  if (/Protected resource .* does not match/i.test(message)) {
    return new AppError(
      "resource_mismatch",
      "The server's protected-resource metadata names another server.",
      400,
    );
  }
  if (/does not support (code challenge method|response type)/i.test(message)) {
    return new AppError("pkce_unsupported", "The authorization server does not support PKCE with S256.", 400);
  }
  return new AppError("oauth_failed", `Authorization failed: ${quoteServerText(message, 160)}`, 502);
}
