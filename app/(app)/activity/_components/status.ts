// How call statuses read and look, for the server page (filters) and the client table alike.
export const STATUS_TONE = {
  ok: "green",
  tool_error: "amber",
  error: "red",
  timeout: "red",
  rejected: "zinc",
} as const;

export const STATUS_LABEL: Record<string, string> = {
  ok: "ok",
  tool_error: "tool error",
  error: "error",
  timeout: "timeout",
  rejected: "refused",
};
