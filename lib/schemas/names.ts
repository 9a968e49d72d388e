// Integration names and server URLs as a person types them. Pure and free of zod, so client components
// can check a field as it changes (zod's compiler would trip the page's Content-Security-Policy).

/** The characters a name may hold, for a form field's `pattern` and hint. */
export const NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9 _.\\-]*";
export const NAME_RULE = "Use letters, digits, spaces, dots, dashes and underscores";

// Hosts a person reaches over plain http without a second thought: this machine.
const LOOPBACK_HOST = /^(localhost|[^/?#]*\.localhost|127(\.\d{1,3}){3}|\[::1\]|0\.0\.0\.0)$/i;

/**
 * A server URL as typed, with the scheme a person leaves out filled in: `localhost:3402/mcp` means
 * http://localhost:3402/mcp (loopback), `mcp.example.com/mcp` means https://mcp.example.com/mcp. Anything
 * that already names a scheme is returned as typed (trimmed), for the egress check to judge.
 */
export function normalizeServerUrl(raw: string): string {
  const text = raw.trim();
  if (!text || /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || !/^[A-Za-z0-9[]/.test(text)) return text;
  const authority = text.split(/[/?#]/, 1)[0];
  const host = authority.replace(/^.*@/, "").replace(/:\d*$/, "");
  return `${LOOPBACK_HOST.test(host) ? "http" : "https"}://${text}`;
}

const NAME_RE = new RegExp(`^${NAME_PATTERN}$`);

/** What is wrong with a name as typed (the same rule as the server's), or undefined when it is fine. */
export function checkName(value: string): string | undefined {
  const name = value.trim();
  if (!name) return undefined;
  if (name.length > 64) return "Use at most 64 characters";
  return NAME_RE.test(name) ? undefined : NAME_RULE;
}
