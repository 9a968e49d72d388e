// Token-shaped values inside free text: what stored tool-call payloads and errors must not keep
// (docs/security.md §3). Pure, no I/O. A match keeps its surrounding text and a recognizable prefix
// (`Bearer `, `sk_live_`, `ghp_`…) so a person can still tell what was there.

export const REDACTED = "[redacted]";

type Rule = { re: RegExp; accept?: (secret: string, prefix: string) => boolean };

// Real credentials carry digits or are long; "Bearer authentication" is prose.
const credentialLike = (s: string) => /[0-9]/.test(s) || s.length >= 24;
// "Basic" is followed by base64 of "user:password".
const basicCredential = (s: string) => Buffer.from(s, "base64").toString("latin1").includes(":");

// Each rule: the prefix kept (group 1, may be empty) and the secret (group 2). Character classes only,
// no nested quantifiers: linear time on any input.
const RULES: Rule[] = [
  // PEM private keys, whole block
  { re: /()(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]{1,16384}?-----END [A-Z ]*PRIVATE KEY-----)/g },
  // Authorization schemes with a credential: "Bearer abc.def", "Basic dXNlcjpwYXNz"
  {
    re: /\b((?:Bearer|Token|Bot)\s+)([A-Za-z0-9\-._~+/]{8,}=*)/gi,
    accept: credentialLike,
  },
  { re: /\b(Basic\s+)([A-Za-z0-9+/]{6,}={0,2})/gi, accept: basicCredential },
  // JSON Web Tokens (JWS, three parts; JWE, five) wherever they stand
  { re: /()(\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2})/g },
  // Vendor key prefixes: OpenAI/Anthropic, Stripe, Slack, GitLab, PyPI, Hugging Face, SendGrid, Shopify,
  // DigitalOcean, Google OAuth
  {
    re: /\b(sk-(?:proj-|ant-(?:api|admin)\d*-|live-|test-)?|(?:sk|pk|rk)_(?:live|test)_|whsec_|github_pat_|xox[abprse]-|xapp-|glpat-|glptt-|gldt-|glrt-|pypi-|hf_|SG\.|shp(?:at|ss|ca|pa)_|do[por]_v1_|ya29\.|GOCSPX-)([A-Za-z0-9_\-.]{16,})/g,
  },
  // GitHub and npm tokens (36 letters and digits), Poke's own API and CLI poll tokens (43 base64url)
  { re: /\b(gh[pousr]_|npm_)([A-Za-z0-9]{36})\b/g },
  { re: /\b(poke_|pokepoll_)([A-Za-z0-9_-]{43})/g },
  // AWS access key ids and Google API keys have fixed shapes
  { re: /\b(AKIA|ASIA|ABIA|ACCA)([A-Z0-9]{16})\b/g },
  { re: /\b(AIza)([0-9A-Za-z_-]{35})/g },
  // Slack incoming webhooks
  { re: /(hooks\.slack\.com\/services\/)([A-Za-z0-9/]{20,})/g },
  // A password in a URL: scheme://user:password@host
  { re: /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]{1,128}:)([^\s@/]{1,256})(?=@)/gi },
  // name=value and "name": "value" pairs whose name says secret, in query strings, headers and logs
  {
    re: /((?:\b|_)(?:access_token|refresh_token|id_token|client_secret|api[_-]?key|apikey|secret|password|passwd|token)["']?\s*[=:]\s*["']?)([^\s"'&,;<>]{6,})/gi,
  },
];

/** The text with every token-shaped value replaced by "[redacted]", keeping what surrounds it. */
export function redactText(text: string): string {
  let out = text;
  for (const { re, accept } of RULES) {
    out = out.replace(re, (match, prefix: string, secret: string) =>
      secret.startsWith(REDACTED) || (accept && !accept(secret, prefix)) ? match : `${prefix}${REDACTED}`,
    );
  }
  return out;
}
