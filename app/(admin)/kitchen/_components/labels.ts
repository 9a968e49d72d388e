export const AUTH_LABEL: Record<string, string> = {
  none: "no auth",
  api_key: "API key per user",
  oauth: "OAuth",
};
