// Headless entry for the MCP conformance suite (`@modelcontextprotocol/conformance`, docs/design.md §8).
// It is the platform itself with the browser and the person taken out: a throwaway PGlite database, a
// user, an integration pointing at the runner's server, then the same code paths a person triggers —
// syncIntegration (connectMcp: auto era negotiation, SSE fallback rules, egress fetch; discovery; store)
// and tool calls through the session pool. For OAuth the authorization redirect is followed with fetch
// and the callback is completed by lib/oauth, exactly as /api/oauth/callback would.
//
//   node --import tsx scripts/conformance-client.ts <server-url>          (the runner appends the URL)
//   node --import tsx scripts/conformance-client.ts --prepare-template DIR (a migrated PGlite to copy)
//
// Env from the runner: MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT (JSON). From scripts/conformance.mjs:
// CONFORMANCE_DB_TEMPLATE (migrated PGlite directory; without it each run migrates its own, ~3 s slower).
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { generateEncryptionKey, setEnvForProcess } from "@/lib/env";
import type { AppError } from "@/lib/errors";
import type { SyncOptions } from "@/lib/mcp/sync";
import { processState } from "@/lib/state";

const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? "";
const context = parseContext(process.env.MCP_CONFORMANCE_CONTEXT);
const verbose = !!process.env.DEBUG;
const say = (...a: unknown[]) => console.error("[poke-conformance]", ...a);
const debug = (...a: unknown[]) => verbose && say(`+${Math.round(performance.now())}ms`, ...a);

/** Tool calls per run: the suite's servers list one or two tools; this bounds a hostile list. */
const MAX_CALLS = 10;
/** Authorization round trips per operation (step-up scenarios need two; retry-limit must stop). */
const MAX_AUTHORIZATIONS = 3;
/**
 * Each connect, listing and tool call may take this long: the suite's servers answer at once, but on a
 * machine busy with other work this process and the runner get a sliver of a core each.
 */
const STEP_TIMEOUT_MS = 120_000;

/** What the client is doing, for the last words when the runner stops it (its --timeout passed). */
let step = "starting";
process.once("SIGTERM", () => {
  say(`stopped by the runner while ${step}, ${Math.round(performance.now() / 1000)} s after start`);
  process.exit(1);
});

function parseContext(raw: string | undefined): Record<string, unknown> {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw);
    return v && typeof v === "object" ? v : {};
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------------------
// Configuration and database. Everything is set before any lib module reads lib/env (it caches).

function configure(dataDir: string): void {
  setEnvForProcess({
    NODE_ENV: "test",
    DATA_DIR: dataDir,
    // Never touch a real database from a conformance run.
    DATABASE_URL: undefined,
    // The runner's servers live on loopback: the egress policy must allow it, as tests do.
    ALLOW_PRIVATE_NETWORK: "1",
    EGRESS_ALLOWLIST: undefined,
    APP_URL: process.env.CONFORMANCE_APP_URL ?? "http://localhost:3000",
    // The suite's authorization servers expect the client ID metadata document at this fixed https URL
    // (auth/basic-cimd): configured as where this deployment publishes its document.
    OAUTH_CLIENT_METADATA_URL: "https://conformance-test.local/client-metadata.json",
    SESSION_SECRET: randomBytes(32).toString("base64url"),
    ENCRYPTION_KEYS: generateEncryptionKey(),
    LOG_LEVEL: verbose ? "debug" : "warn",
  });
}

async function migrateInto(pgliteDir: string): Promise<void> {
  const { migrate, openRunner } = await import("@/lib/migrate");
  const runner = await openRunner({ pgliteDir });
  try {
    await migrate(runner);
  } finally {
    await runner.close();
  }
}

async function openScratchDatabase(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-conformance-"));
  const template = process.env.CONFORMANCE_DB_TEMPLATE;
  if (template && fs.existsSync(path.join(template, "pglite"))) fs.cpSync(template, dir, { recursive: true });
  else await migrateInto(path.join(dir, "pglite"));
  configure(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------------------
// Elicitation. The engine's connectMcp has no seam for client capabilities or server→client request
// handlers, so the headless "person" is attached to every Client it creates in this process: form
// elicitations are accepted with the server's proposed defaults (the SDK fills them in when
// capabilities.elicitation.form.applyDefaults is declared); URL elicitations are declined.

function installElicitationResponder(): void {
  processState("conformanceElicitation", () => {
    const proto = Client.prototype;
    const connect = proto.connect;
    proto.connect = function (this: Client, ...args: Parameters<Client["connect"]>) {
      this.registerCapabilities({ elicitation: { form: { applyDefaults: true } } });
      this.setRequestHandler("elicitation/create", async (req) => {
        const mode = (req.params as { mode?: string }).mode ?? "form";
        debug("elicitation/create", mode);
        return mode === "form" ? { action: "accept", content: {} } : { action: "decline" };
      });
      return connect.apply(this, args);
    };
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Arguments for a tool the person knows nothing about: what its input schema requires, from defaults,
// enums and types (like the playground form before anyone types).

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  items?: Schema;
};

export function sampleValue(s: Schema | undefined, depth = 0): unknown {
  if (!s || depth > 8) return null;
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  if (s.enum?.length) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  switch (type) {
    case "string":
      return "conformance";
    case "number":
    case "integer":
      return Math.max(s.minimum ?? 1, 1);
    case "boolean":
      return true;
    case "array":
      return [];
    case "object":
      return sampleArguments(s, depth + 1);
    default:
      return s.properties ? sampleArguments(s, depth + 1) : null;
  }
}

export function sampleArguments(s: Schema | undefined, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of s?.required ?? []) out[name] = sampleValue(s?.properties?.[name], depth);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// OAuth: the browser leg, done with fetch. lib/oauth is loaded lazily so the non-auth scenarios run even
// while it is incomplete.

type OAuthApi = {
  startAuthorization(i: {
    userId: string;
    integrationId: string;
    browserBinding: string;
    scope?: string;
  }): Promise<{ authorizationUrl: string | null }>;
  completeAuthorization(i: {
    userId: string;
    browserBinding: string | undefined;
    params: URLSearchParams;
    sync?: boolean;
  }): Promise<{ ok: true; integrationId: string } | { ok: false; error: string }>;
  oauthProviderFor?(userId: string, integrationId: string): Promise<unknown>;
};

export class NotAvailableError extends Error {}

async function loadOAuth(): Promise<OAuthApi> {
  try {
    const flow = (await import("@/lib/oauth/flow")) as Partial<OAuthApi>;
    const grant = (await import("@/lib/oauth/grant").catch(() => ({}))) as Partial<OAuthApi>;
    if (typeof flow.startAuthorization !== "function" || typeof flow.completeAuthorization !== "function") {
      throw new Error("lib/oauth/flow does not export startAuthorization/completeAuthorization");
    }
    return {
      startAuthorization: flow.startAuthorization,
      completeAuthorization: flow.completeAuthorization,
      oauthProviderFor: grant.oauthProviderFor,
    };
  } catch (err) {
    throw new NotAvailableError(
      `the OAuth client (lib/oauth) is not available yet: ${(err as Error).message}`,
    );
  }
}

/** Start → follow the authorization URL like a browser → hand the callback query to lib/oauth. */
async function authorize(userId: string, integrationId: string, scope?: string): Promise<void> {
  const oauth = await loadOAuth();
  // The browser-binding cookie value: any random string; only its hash is stored with the pending row.
  const browserBinding = randomBytes(24).toString("base64url");
  const { authorizationUrl } = await oauth.startAuthorization({
    userId,
    integrationId,
    browserBinding,
    scope,
  });
  debug("authorize", authorizationUrl ?? "(tokens issued without consent)");
  if (!authorizationUrl) return; // a machine-to-machine authorization server: nothing for a browser to do
  const res = await fetch(authorizationUrl, { redirect: "manual" });
  const location = res.headers.get("location");
  await res.body?.cancel().catch(() => {});
  if (!location) throw new Error(`the authorization endpoint answered ${res.status} without a redirect`);
  const callback = new URL(location, authorizationUrl);
  const result = await oauth.completeAuthorization({
    userId,
    browserBinding,
    params: callback.searchParams,
    sync: false,
  });
  if (!result.ok) throw new Error(`the OAuth callback was rejected: ${result.error}`);
}

/**
 * Auth errors the platform answers with "connect with OAuth" (the person would click Connect, Reconnect,
 * or Grant access). A bare 401 from a server that publishes no metadata offers both an API key and OAuth;
 * the headless person has no key, so it tries OAuth (2025-03-26 servers with default endpoints).
 */
function authScopeNeeded(err: unknown): { scope?: string } | undefined {
  const e = err as Partial<AppError>;
  if (e?.name !== "AppError") return undefined;
  if (e.code === "needs_auth" || e.code === "needs_reauth" || e.code === "unauthorized") return {};
  if (e.code === "insufficient_scope") {
    const scope = e.details?.scope;
    return { scope: typeof scope === "string" ? scope : undefined };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------

async function run(serverUrl: string): Promise<void> {
  step = "opening the database";
  const dataDir = await openScratchDatabase();
  debug("database copied");
  const { getDb, closeDb } = await import("@/lib/db");
  const { syncIntegration } = await import("@/lib/mcp/sync");
  const { storedTool } = await import("@/lib/data/catalog");
  const pool = await import("@/lib/mcp/pool");
  installElicitationResponder();
  debug("engine loaded");
  try {
    const db = await getDb();
    debug("database open");
    const user = await db.user.create({ data: { email: `conformance-${Date.now()}@example.test` } });
    const integ = await db.integration.create({
      data: { userId: user.id, name: scenario || "conformance", url: serverUrl, authKind: "none" },
    });
    // Credentials the suite pre-registered (auth/pre-registration) go where `poke tunnel --client-id
    // --client-secret` puts them: used as-is, never registered, bound to the first issuer that accepts them.
    if (typeof context.client_id === "string") {
      const { setCliClient } = await import("@/lib/data/grants");
      const secret = typeof context.client_secret === "string" ? context.client_secret : undefined;
      // A private key (auth/client-credentials-jwt) goes where `poke tunnel --client-key` puts it.
      const { parseClientPrivateKey } = await import("@/lib/oauth/client-key");
      const key =
        typeof context.private_key_pem === "string"
          ? parseClientPrivateKey(context.private_key_pem, String(context.signing_algorithm ?? ""))
          : undefined;
      await setCliClient(integ, { clientId: context.client_id, clientSecret: secret, privateKey: key });
    }
    // Enterprise-managed authorization: the suite's IdP plays the deployment's OIDC sign-in provider,
    // and the person signed in through it: their ID token is kept as lib/auth/options.ts keeps it.
    if (typeof context.idp_id_token === "string" && typeof context.idp_issuer === "string") {
      setEnvForProcess({
        OIDC_ISSUER: context.idp_issuer,
        OIDC_CLIENT_ID: typeof context.idp_client_id === "string" ? context.idp_client_id : undefined,
      });
      const { OIDC_PROVIDER, saveIdToken } = await import("@/lib/data/identity-assertions");
      const account = { provider: OIDC_PROVIDER, providerAccountId: `conformance-${user.id}` };
      await db.account.create({ data: { userId: user.id, ...account } });
      await saveIdToken({ ...account, idToken: context.idp_id_token });
    }
    let authorizations = 0;

    /** Runs `op`; when the server asks for (more) authorization, authorizes and retries, bounded. */
    async function withAuthorization<T>(what: string, op: () => Promise<T>): Promise<T> {
      for (;;) {
        try {
          step = what;
          return await op();
        } catch (err) {
          const need = authScopeNeeded(err);
          if (!need || authorizations >= MAX_AUTHORIZATIONS) throw err;
          authorizations++;
          say(`${what}: ${(err as Error).message} → authorizing (${authorizations})`);
          step = `authorizing for ${what} (${authorizations})`;
          await authorize(user.id, integ.id, need.scope);
          await pool.dropSession(user.id, integ.id);
        }
      }
    }

    const oauthProvider = async () => {
      const row = await db.integration.findUniqueOrThrow({ where: { id: integ.id } });
      if (row.authKind !== "oauth") return undefined;
      const { oauthProviderFor } = await loadOAuth();
      return ((await oauthProviderFor?.(user.id, integ.id)) ?? undefined) as SyncOptions["authProvider"];
    };

    const diff = await withAuthorization("sync", async () =>
      syncIntegration(user.id, integ.id, {
        authProvider: await oauthProvider(),
        timeoutMs: STEP_TIMEOUT_MS,
        headersTimeoutMs: STEP_TIMEOUT_MS,
      }),
    );
    const row = await db.integration.findUniqueOrThrow({ where: { id: integ.id } });
    say(
      `connected: ${row.transport} ${row.protocolEra}/${row.protocolVersion}, ${diff.toolCount} tool(s)` +
        (row.serverName ? ` from ${row.serverName}` : ""),
    );

    const tools = await db.tool.findMany({
      where: { integrationId: integ.id },
      orderBy: { name: "asc" },
      take: MAX_CALLS,
      select: { name: true, inputSchema: true },
    });
    for (const tool of tools) {
      const args = sampleArguments(storedTool(tool).inputSchema as Schema);
      const out = await withAuthorization(`call ${tool.name}`, () =>
        pool.callTool({ userId: user.id, integrationId: integ.id }, tool.name, args, {
          timeoutMs: STEP_TIMEOUT_MS,
        }),
      );
      const text = out.result.content?.find((c) => c.type === "text");
      say(
        `called ${tool.name}(${JSON.stringify(args)}) in ${out.latencyMs} ms` +
          `${out.result.isError ? " → isError" : ""}: ${text && "text" in text ? text.text.slice(0, 120) : "(no text)"}`,
      );
    }
    step = "closing";
    await pool.closeAll();
  } finally {
    await closeDb().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const prep = argv.indexOf("--prepare-template");
  if (prep >= 0) {
    const dir = path.resolve(argv[prep + 1] ?? "");
    await migrateInto(path.join(dir, "pglite"));
    return 0;
  }
  const serverUrl = argv.at(-1);
  if (!serverUrl || !/^https?:\/\//.test(serverUrl)) {
    say("usage: conformance-client.ts <server-url>  |  --prepare-template DIR");
    return 2;
  }
  debug("scenario", scenario || "(none)", "context keys", Object.keys(context));
  await run(serverUrl);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as Partial<AppError> & Error;
    if (err instanceof NotAvailableError) say(`NOT AVAILABLE: ${err.message}`);
    else say(`failed: ${e?.name}${e?.code ? ` (${e.code})` : ""}: ${e?.message}`);
    if (verbose && e?.stack) say(e.stack);
    process.exit(1);
  },
);
