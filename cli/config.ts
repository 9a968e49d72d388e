// Where the CLI keeps its login: $XDG_CONFIG_HOME/poke/credentials.json (default ~/.config), mode 0600.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CliError } from "./args";

export type Credentials = { url: string; token: string };

export const DEFAULT_URL = "http://localhost:3000";

export function configDir(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config");
  return path.join(base, "poke");
}

export function credentialsFile(): string {
  return path.join(configDir(), "credentials.json");
}

export function readCredentials(): Credentials | undefined {
  let text: string;
  try {
    text = fs.readFileSync(credentialsFile(), "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<Credentials>;
    return typeof v.url === "string" && typeof v.token === "string"
      ? { url: v.url, token: v.token }
      : undefined;
  } catch {
    throw new CliError(`${credentialsFile()} is not valid JSON: run \`poke login\` again.`);
  }
}

export function writeCredentials(c: Credentials): string {
  const file = credentialsFile();
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Write-then-rename so a crash never leaves a half-written file; mode is set at creation.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(c, null, 2) + "\n", { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

export function deleteCredentials(): boolean {
  try {
    fs.unlinkSync(credentialsFile());
    return true;
  } catch {
    return false;
  }
}

export function normalizeAppUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`"${raw}" is not a valid URL (e.g. http://localhost:3000).`, 2);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new CliError("The Poke URL must be http(s)://", 2);
  return u.origin + u.pathname.replace(/\/+$/, "");
}

/** The app URL and token to use: --url, then POKE_URL, then the stored login. Token from POKE_TOKEN or the login. */
export function resolveAuth(urlFlag?: string): Credentials {
  const stored = readCredentials();
  const token = process.env.POKE_TOKEN || stored?.token;
  const url = normalizeAppUrl(urlFlag || process.env.POKE_URL || stored?.url || DEFAULT_URL);
  if (!token) throw new CliError("Not logged in: run `poke login` first (or set POKE_TOKEN).");
  return { url, token };
}
