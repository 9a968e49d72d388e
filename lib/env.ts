// The only reader of process.env. Validated with zod; one clear line per problem.
// Local (non-production) runs get generated secrets persisted in DATA_DIR/secrets.json.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";

const bool = z
  .enum(["1", "0", "true", "false", "yes", "no", ""])
  .optional()
  .transform((v) => v === "1" || v === "true" || v === "yes");

// On unless set to "0" or "false".
const flagOn = z
  .enum(["1", "0", "true", "false"])
  .optional()
  .transform((v) => v !== "0" && v !== "false");

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );

export const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("127.0.0.1"),
  APP_URL: z.url().optional(),
  DATA_DIR: z.string().default("./data"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgresql:// URL")
    .optional(),
  SESSION_SECRET: z.string().min(32, "SESSION_SECRET must be at least 32 characters").optional(),
  // "kid:base64key,kid:base64key": the first key encrypts, all keys decrypt.
  ENCRYPTION_KEYS: z.string().optional(),
  ADMIN_EMAILS: list,
  ALLOW_PRIVATE_NETWORK: bool,
  EGRESS_ALLOWLIST: list,
  OIDC_ISSUER: z.url().optional(),
  OIDC_CLIENT_ID: z.string().optional(),
  OIDC_CLIENT_SECRET: z.string().optional(),
  OIDC_NAME: z.string().default("SSO"),
  GITHUB_CLIENT_ID: z.string().optional(),
  GITHUB_CLIENT_SECRET: z.string().optional(),
  SIGNUP_ENABLED: flagOn,
  // Reverse proxies whose X-Forwarded-For is believed (IP addresses or CIDR ranges). Without them the
  // client address used for sign-in throttling is the connection's peer (docs/security.md §25).
  TRUSTED_PROXIES: list,
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  // Bearer token of the Prometheus scraper for GET /api/metrics; unset, that route answers 404.
  METRICS_TOKEN: z.string().min(16, "METRICS_TOKEN must be at least 16 characters").optional(),
  // OAuth with servers of the 2025-03-26 revision that publish no metadata at all: their default
  // endpoints (/authorize, /token, /register on the server's origin). "0" refuses such servers.
  OAUTH_LEGACY_ENDPOINTS: flagOn,
  // Where this app's OAuth client ID metadata document is published, when not at
  // ${APP_URL}/api/oauth/client-metadata (it must be https and serve that route's document).
  OAUTH_CLIENT_METADATA_URL: z.url().optional(),
  // Tool-call limits per user (every source: playground, API, agent endpoint).
  CALL_RATE_PER_SEC: z.coerce.number().positive().default(10),
  CALL_BURST: z.coerce.number().int().positive().default(50),
  CALL_CONCURRENCY: z.coerce.number().int().positive().default(20),
  // Circuit breakers (docs/security.md §21): a user's calls to one server URL pause after this many
  // consecutive failures, for the cool-down; a whole origin pauses only when this many distinct users'
  // calls to it failed within the window (0 turns the origin circuit off).
  BREAKER_FAILURES: z.coerce.number().int().positive().default(5),
  BREAKER_COOLDOWN_SEC: z.coerce.number().positive().default(30),
  BREAKER_ORIGIN_USERS: z.coerce.number().int().min(0).default(3),
  BREAKER_ORIGIN_WINDOW_SEC: z.coerce.number().positive().default(60),
  // Several instances share limits, breakers, notifications, tunnels and agent sessions through Redis
  // (docs/deploy.md). Unset: one instance, everything in this process.
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "REDIS_URL must be a redis:// or rediss:// URL")
    .optional(),
  // Prefix of every Redis key and channel: instances of one deployment share it, two deployments on one
  // Redis use different ones.
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, "REDIS_PREFIX: letters, digits, ':', '_' or '-' (at most 64)")
    .default("poke:"),
  // How the other instances reach this one directly (a tunnel's socket lives on one instance; requests
  // arriving elsewhere are relayed to it, docs/deploy.md). Default: http://<HOST, or this host's first
  // network address when HOST is 0.0.0.0 or ::>:<PORT>.
  INSTANCE_URL: z.url().optional(),
  // Open 2025-era agent sessions per user; past it the idle ones close first (docs/deploy.md).
  AGENT_SESSIONS_PER_USER: z.coerce.number().int().min(1).max(10_000).default(64),
});

export type Env = z.infer<typeof envSchema> & {
  SESSION_SECRET: string;
  ENCRYPTION_KEYS: string;
  APP_URL: string;
};

export class ConfigError extends Error {}

let cached: Env | undefined;

/** process.env checked against the schema; ConfigError with one readable line per problem. */
function parseEnv(): z.infer<typeof envSchema> {
  const parsed = envSchema.safeParse(process.env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration — ${lines.join("; ")}`);
  }
  return parsed.data;
}

let cachedSettings: z.infer<typeof envSchema> | undefined;

/**
 * Validated configuration without requiring the secrets, for what is read while modules load: `next build`
 * loads route modules and runs without them.
 */
export function settings(): z.infer<typeof envSchema> {
  return (cachedSettings ??= parseEnv());
}

/** Validated configuration, with the secrets present. */
export function env(): Env {
  if (cached) return cached;
  const e = parseEnv();
  const missing = [!e.SESSION_SECRET && "SESSION_SECRET", !e.ENCRYPTION_KEYS && "ENCRYPTION_KEYS"].filter(
    Boolean,
  );
  if (missing.length) {
    throw new ConfigError(
      `Missing configuration: ${missing.join(", ")}. Run \`npm start\` once to generate local secrets, or set them.`,
    );
  }
  cached = {
    ...e,
    SESSION_SECRET: e.SESSION_SECRET!,
    ENCRYPTION_KEYS: e.ENCRYPTION_KEYS!,
    APP_URL: (e.APP_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ""),
  };
  return cached;
}

export function generateEncryptionKey(): string {
  return `k${Date.now().toString(36)}:${randomBytes(32).toString("base64")}`;
}

/**
 * Called once by the server launcher before anything else. In production with DATABASE_URL every
 * secret must be set explicitly; otherwise missing ones are generated into DATA_DIR/secrets.json.
 * Returns the names of generated secrets (the launcher prints them).
 */
export function prepareLocalSecrets(): { generated: string[]; file: string } {
  const e = parseEnv();
  const dataDir = path.resolve(e.DATA_DIR);
  const file = path.join(dataDir, "secrets.json");
  const needed = (["SESSION_SECRET", "ENCRYPTION_KEYS"] as const).filter((k) => !process.env[k]);
  if (!needed.length) return { generated: [], file };
  if (e.NODE_ENV === "production" && e.DATABASE_URL) {
    throw new ConfigError(
      `Production needs explicit secrets: set ${needed.join(" and ")} (see README, Configuration).`,
    );
  }
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`Data directory ${dataDir} is not writable: ${(err as Error).message}`);
  }
  let stored: Record<string, string> = {};
  try {
    stored = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      throw new ConfigError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  const generated: string[] = [];
  for (const k of needed) {
    if (!stored[k]) {
      stored[k] = k === "SESSION_SECRET" ? randomBytes(32).toString("base64url") : generateEncryptionKey();
      generated.push(k);
    }
    process.env[k] = stored[k];
  }
  if (generated.length) {
    try {
      fs.writeFileSync(file, JSON.stringify(stored, null, 2) + "\n", { mode: 0o600 });
    } catch (err) {
      throw new ConfigError(`Cannot write ${file}: ${(err as Error).message}`);
    }
  }
  cached = undefined;
  return { generated, file };
}

/** Test and tooling hook: set configuration values (only for in-process tests and the launcher). */
export function setEnvForProcess(values: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  cached = undefined;
  cachedSettings = undefined;
}
