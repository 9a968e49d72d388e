/** A same-site path to return to after sign-in; anything else (absolute URLs, `//host`) becomes "/integrations". */
export function safeReturnPath(raw: string | null | undefined): string {
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) return "/integrations";
  return raw.slice(0, 2000);
}
