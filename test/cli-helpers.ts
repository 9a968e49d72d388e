// Shared by the CLI and tunnel integration tests: a real app server (production build) on a free port,
// seeded users with API tokens, and the real `poke` CLI run as a child process.
// PGlite is single-process: users are seeded BEFORE the app starts (then the DB is closed here); after
// that the test talks to the app only over HTTP.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { closeDb } from "../lib/db";
import { createApiToken } from "../lib/data/api-tokens";
import { publicUserId, signUp } from "../lib/data/users";
import { freePort } from "./fixtures/http";

export const ROOT = path.resolve(__dirname, "..");
export const POKE = path.join(ROOT, "cli", "poke.mjs");
export const PASSWORD = "correct horse battery staple";

/** `publicId`: the UUID servers see as X-Poke-User-Id. */
export type SeededUser = { id: string; email: string; token: string; publicId: string };
export type App = {
  url: string;
  users: Record<string, SeededUser>;
  logs: () => string;
  stop(): Promise<void>;
  /** Ends the app with SIGKILL (no shutdown). */
  kill?(): Promise<void>;
};

export { freePort };

/** Seeds the named users (each with an API token), closes the DB, then starts the app on it. */
/** `env` overrides the app's environment (e.g. ALLOW_PRIVATE_NETWORK: "0" for production's policy). */
export async function startApp(
  names: string[] = ["alice", "bob"],
  env: Record<string, string> = {},
): Promise<App> {
  if (!fs.existsSync(path.join(ROOT, ".next", "BUILD_ID")))
    throw new Error("No production build: run `NEXT_TELEMETRY_DISABLED=1 npx next build` first.");
  const users: Record<string, SeededUser> = {};
  for (const name of names) {
    const email = `${name}-${Math.random().toString(36).slice(2, 8)}@cli.test`;
    const user = await signUp({ email, password: PASSWORD, name });
    const { token } = await createApiToken(user, { name: "test", expiresInDays: undefined });
    users[name] = { id: user.id, email, token, publicId: await publicUserId(user.id) };
  }
  await closeDb();
  const app = await spawnApp([], env);
  return { url: app.url, users, logs: app.logs, stop: app.stop, kill: app.kill };
}

/**
 * Starts the production app (`server.ts --no-build` with `args`) on a free port and the current database
 * and waits until it is healthy. `env` overrides its environment.
 */
export async function spawnApp(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ url: string; logs: () => string; stop: () => Promise<void>; kill: () => Promise<void> }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let out = "";
  const child = spawn(process.execPath, ["--import", "tsx", "server.ts", "--no-build", ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      APP_URL: url,
      NODE_ENV: "production",
      ALLOW_PRIVATE_NETWORK: "1",
      NEXT_TELEMETRY_DISABLED: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  // Start-up on a loaded machine can take minutes; the deadline only catches an app that never comes up.
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`app exited early:\n${out}`);
    try {
      const r = await fetch(`${url}/api/health`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`app did not become healthy:\n${out}`);
    await sleep(200);
  }
  return {
    url,
    logs: () => out,
    stop: () => stopChild(child, "SIGTERM"),
    kill: () => stopChild(child, "SIGKILL"),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await done;
  clearTimeout(t);
}

/** A private XDG_CONFIG_HOME so tests never touch the real ~/.config/poke. */
export function tempConfigHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "poke-cli-cfg-"));
}

export function cliEnv(configHome: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: configHome, POKE_NO_BROWSER: "1" };
  delete env.POKE_TOKEN;
  delete env.POKE_URL;
  return { ...env, ...extra };
}

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs `poke …` to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [POKE, ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`poke ${args.join(" ")} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running `poke …` (tunnel, proxy) whose output can be awaited line by line. */
export class LiveCli {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: NodeJS.ProcessEnv, stdin: "ignore" | "pipe" = "ignore") {
    this.child = spawn(process.execPath, [POKE, ...args], { cwd: ROOT, env, stdio: [stdin, "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.stdout += d));
    this.child.stderr!.on("data", (d) => (this.stderr += d));
    this.exited = new Promise((r) => this.child.on("exit", (code) => r(code)));
  }

  /** Resolves when stdout matches `re` (searching from `from`), with the match. */
  async waitFor(re: RegExp, timeoutMs = 120_000, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.stdout.slice(from));
      if (m) return m;
      if (this.child.exitCode !== null)
        throw new Error(`poke exited (${this.child.exitCode}) before ${re}:\n${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${re}:\n${this.stdout}\n${this.stderr}`);
      await sleep(50);
    }
  }

  async stop(signal: NodeJS.Signals = "SIGINT"): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    const t = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** JSON API call as a seeded user. */
export async function apiCall<T = unknown>(
  app: App,
  user: SeededUser,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; data: T }> {
  const r = await fetch(`${app.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, data: (text ? JSON.parse(text) : undefined) as T };
}

/** Writes a login file for `user` (as `poke login --token` would). */
export function writeLogin(configHome: string, app: App, user: SeededUser): void {
  const dir = path.join(configHome, "poke");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "credentials.json"), JSON.stringify({ url: app.url, token: user.token }), {
    mode: 0o600,
  });
}

/** A tiny cookie jar for driving the app's browser routes over HTTP. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

/** Signs `user` in with email + password as the sign-in page does; the jar then holds the session. */
export async function signIn(app: App, user: SeededUser): Promise<CookieJar> {
  const jar = new CookieJar();
  const csrf = await fetch(`${app.url}/api/auth/csrf`);
  jar.store(csrf);
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const res = await postForm(app, jar, "/api/auth/callback/credentials", {
    csrfToken,
    email: user.email,
    password: PASSWORD,
    json: "true",
  });
  await res.body?.cancel();
  jar.store(res);
  if (!/session-token=/.test(jar.header())) throw new Error(`sign-in failed (HTTP ${res.status})`);
  return jar;
}

/** A same-origin form POST as the signed-in person's browser sends it (redirects not followed). */
export function postForm(app: App, jar: CookieJar, path: string, form: Record<string, string>) {
  return fetch(`${app.url}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      cookie: jar.header(),
      origin: app.url,
    },
    body: new URLSearchParams(form),
  });
}

/**
 * The Connect button: POST /api/oauth/start as the signed-in person. Returns the app's answer — a 303 to
 * the authorization server, or back to the integration page with `oauth_error`.
 */
export async function startOAuth(app: App, jar: CookieJar, integrationId: string): Promise<URL> {
  const res = await postForm(app, jar, "/api/oauth/start", { integrationId });
  await res.body?.cancel();
  jar.store(res);
  const location = res.headers.get("location");
  if (res.status !== 303 || !location) throw new Error(`oauth start answered ${res.status}`);
  return new URL(location);
}

/** The browser arriving back at the app's OAuth callback; returns where the app sends it next. */
export async function finishOAuth(jar: CookieJar, callback: URL): Promise<URL> {
  const res = await fetch(callback, { redirect: "manual", headers: { cookie: jar.header() } });
  await res.body?.cancel();
  const location = res.headers.get("location");
  if (res.status !== 303 || !location) throw new Error(`oauth callback answered ${res.status}`);
  return new URL(location);
}
