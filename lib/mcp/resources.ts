// Reading a resource and getting a prompt of an integration through its pooled session (lib/mcp/pool.ts):
// the same per-user limits, circuit breaker, OAuth refresh and egress policy as tool calls. Both are reads,
// so an expired session is re-opened and the request sent again once. Not recorded in the call history
// (Activity lists tool calls); their failures count on the integration's circuit breaker like calls.
import type { GetPromptResult, ReadResourceResult } from "@modelcontextprotocol/client";
import { AppError } from "@/lib/errors";
import { jsonProblem } from "@/lib/limits/json-shape";
import { requestOnSession, type CallContext, type CallOptions } from "@/lib/mcp/pool";

export const MAX_RESOURCE_URI = 4096;
const MAX_PROMPT_NAME = 256;

/** resources/read of `uri` (any URI the server serves, listed or filled in from a template). */
export async function readResource(
  ctx: CallContext,
  uri: string,
  opts: CallOptions = {},
): Promise<ReadResourceResult> {
  if (typeof uri !== "string" || !uri.trim())
    throw new AppError("invalid_arguments", "Enter a resource URI.", 400);
  if (uri.length > MAX_RESOURCE_URI || uri.includes("\0") || !uri.isWellFormed()) {
    throw new AppError("invalid_arguments", "The resource URI is too long or not valid text.", 400);
  }
  const what = `the resource "${uri.slice(0, 128)}"`;
  const { result } = await requestOnSession(
    ctx,
    what,
    // "bypass": always from the server (a pooled session's response cache is not for the person to see).
    (client, o) => client.readResource({ uri }, { ...o, maxTotalTimeout: o.timeout, cacheMode: "bypass" }),
    opts,
  );
  return result;
}

/** prompts/get of `name` with its arguments (strings, as the protocol has them). */
export async function getPrompt(
  ctx: CallContext,
  name: string,
  args: Record<string, string> = {},
  opts: CallOptions = {},
): Promise<GetPromptResult> {
  if (typeof name !== "string" || !name || name.length > MAX_PROMPT_NAME) {
    throw new AppError("invalid_arguments", "Enter a prompt name (at most 256 characters).", 400);
  }
  if (!args || typeof args !== "object" || Array.isArray(args)) {
    throw new AppError("invalid_arguments", "Prompt arguments must be an object of strings.", 400);
  }
  for (const [k, v] of Object.entries(args)) {
    if (typeof v !== "string") {
      throw new AppError(
        "invalid_arguments",
        `The prompt argument "${k.slice(0, 64)}" must be a string.`,
        400,
      );
    }
  }
  const tooBig = jsonProblem(args);
  if (tooBig) throw new AppError("invalid_arguments", `Prompt arguments ${tooBig.text}.`, 400);
  const { result } = await requestOnSession(
    ctx,
    `the prompt "${name.slice(0, 128)}"`,
    (client, o) => client.getPrompt({ name, arguments: args }, { ...o, maxTotalTimeout: o.timeout }),
    opts,
  );
  return result;
}
