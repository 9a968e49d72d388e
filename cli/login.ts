// poke login / logout / whoami
import { spawn } from "node:child_process";
import os from "node:os";
import { CliError, commonOptions, parse, showHelp } from "./args";
import { request } from "./api";
import {
  credentialsFile,
  deleteCredentials,
  DEFAULT_URL,
  normalizeAppUrl,
  readCredentials,
  resolveAuth,
  writeCredentials,
} from "./config";

export const LOGIN_HELP = `Usage: poke login [--url URL] [--token TOKEN] [--no-browser]

Signs the CLI in to a Poke server. Without --token, opens a link where you approve the
CLI in the browser (signed in as yourself); Poke then issues an API token for it.
The login is stored in ${"$XDG_CONFIG_HOME/poke/credentials.json"} (default ~/.config), mode 0600.

Options:
  --url URL        Poke server (default: POKE_URL, the stored login, or ${DEFAULT_URL})
  --token TOKEN    use an existing API token (Settings → API tokens) instead of the browser
  --no-browser     print the approval link without trying to open a browser
  -h, --help       show this help

Example:
  poke login --url https://poke.example.com`;

export const LOGOUT_HELP = `Usage: poke logout

Deletes the stored login (${"~/.config/poke/credentials.json"}). The API token itself stays valid
until you revoke it in Settings → API tokens.`;

export const WHOAMI_HELP = `Usage: poke whoami [--url URL] [--json]

Shows which account and server the CLI is signed in to.`;

type Me = { id: string; email: string; name: string | null; role: string };

export async function login(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { ...commonOptions, token: { type: "string" }, "no-browser": { type: "boolean" } },
    LOGIN_HELP,
    false,
  );
  if (values.help) return showHelp(LOGIN_HELP);
  const url = normalizeAppUrl(values.url || process.env.POKE_URL || readCredentials()?.url || DEFAULT_URL);
  let token = values.token;
  if (!token) token = await deviceLogin(url, !values["no-browser"] && !process.env.POKE_NO_BROWSER);
  const me = await request<Me>(url, "GET", "/api/v1/me", { token }).then((r) => r.data);
  const file = writeCredentials({ url, token });
  console.log(`Logged in to ${url} as ${me.email}.`);
  console.log(`Credentials saved to ${file}`);
  return 0;
}

async function deviceLogin(url: string, openBrowser: boolean): Promise<string> {
  const start = await request<{
    code: string;
    pollToken: string;
    approveUrl: string;
    intervalMs: number;
    expiresAt: string;
  }>(url, "POST", "/api/cli/login", { body: { host: os.hostname() } }).then((r) => r.data);
  console.log(`To sign in, open this link and approve the code ${start.code}:`);
  console.log(`\n  ${start.approveUrl}\n`);
  if (openBrowser && tryOpen(start.approveUrl)) console.log("(opened in your browser)");
  console.log("Waiting for approval… (Ctrl+C to cancel)");
  const deadline = Date.parse(start.expiresAt) || Date.now() + 10 * 60_000;
  let interval = Math.max(500, start.intervalMs || 2000);
  for (;;) {
    await new Promise((r) => setTimeout(r, interval));
    const r = await request<{ status: string; token?: string; intervalMs?: number }>(
      url,
      "POST",
      "/api/cli/login/poll",
      {
        body: { pollToken: start.pollToken },
      },
    );
    if (r.status === 200 && r.data.token) return r.data.token;
    interval = Math.max(500, r.data.intervalMs ?? interval);
    if (Date.now() > deadline + 5_000) throw new CliError("The login code expired. Run `poke login` again.");
  }
}

/** Opens a URL with the platform's opener; arguments are passed as an array, never through a shell. */
function tryOpen(target: string): boolean {
  if (!/^https?:\/\//.test(target)) return false;
  const cmd =
    process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer.exe" : "xdg-open";
  try {
    const child = spawn(cmd, [target], { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export async function logout(argv: string[]): Promise<number> {
  const { values } = parse(argv, { help: commonOptions.help }, LOGOUT_HELP, false);
  if (values.help) return showHelp(LOGOUT_HELP);
  const had = deleteCredentials();
  console.log(had ? `Logged out (deleted ${credentialsFile()}).` : "Not logged in.");
  if (had) console.log("The API token stays valid until you revoke it in Settings → API tokens.");
  return 0;
}

export async function whoami(argv: string[]): Promise<number> {
  const { values } = parse(argv, commonOptions, WHOAMI_HELP, false);
  if (values.help) return showHelp(WHOAMI_HELP);
  const auth = resolveAuth(values.url);
  const me = await request<Me>(auth.url, "GET", "/api/v1/me", { token: auth.token }).then((r) => r.data);
  if (values.json) console.log(JSON.stringify({ url: auth.url, ...me }));
  else console.log(`${me.email}${me.role === "admin" ? " (admin)" : ""} on ${auth.url}`);
  return 0;
}
