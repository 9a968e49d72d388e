// Headless entry for the MCP conformance suite (`@modelcontextprotocol/conformance`, docs/protocol.md).
// It is the platform itself with the browser and the person taken out: a throwaway PGlite database, a
// user, an integration pointing at the runner's server, then the same code paths a person triggers —
// syncIntegration (connectMcp: auto era negotiation, SSE fallback rules, egress fetch; discovery; store)
// and tool calls through the session pool. For OAuth the authorization redirect is followed with fetch
// and the callback is completed by lib/oauth, exactly as /api/oauth/callback would.
//
//   node --import tsx scripts/conformance-client.ts <server-url>          one scenario (the runner appends the URL)
//   node --import tsx scripts/conformance-client.ts --serve SOCKET        a host for many scenarios (below)
//   node --import tsx scripts/conformance-client.ts --prepare-template DIR (a migrated PGlite to copy)
//
// Env from the runner: MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT (JSON). From scripts/conformance.mjs:
// CONFORMANCE_DB_TEMPLATE (migrated PGlite directory; without it each run migrates its own, ~3 s slower).
//
// Host mode: loading the engine and opening a database costs a fresh process 10–20 s of CPU, more than
// any scenario. scripts/conformance.mjs therefore starts one host, and the suite's runner starts the
// relay scripts/conformance-relay.mjs per scenario, which hands the scenario to the host over a unix
// socket and relays its output and exit code. Each scenario gets its own user and integration in the
// host's database, as separate people on one deployment would. The host also serves the agent endpoint
// (lib/agent/endpoint.ts) on loopback for the suite's server scenarios, adding a scratch user's API
// token to every request (the suite has no option to send one); it prints
// {"ready":true,"endpoint":"http://127.0.0.1:PORT/api/mcp"} on stdout once both are listening.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { Client } from "@modelcontextprotocol/client";
import { generateEncryptionKey, setEnvForProcess } from "@/lib/env";
import type { AppError } from "@/lib/errors";
import type { SyncOptions } from "@/lib/mcp/sync";
import { processState } from "@/lib/state";

const verbose = !!process.env.DEBUG;

/** One scenario's run: where its output goes and what it is doing (hosts run several at once). */
type Run = { write(line: string): void; step: string; t0: number };
const runs = new AsyncLocalStorage<Run>();
const standalone: Run = { write: (l) => console.error(l), step: "starting", t0: 0 };
const current = () => runs.getStore() ?? standalone;
const say = (...a: unknown[]) =>
  current().write(["[poke-conformance]", ...a.map((x) => (typeof x === "string" ? x : String(x)))].join(" "));
const debug = (...a: unknown[]) => verbose && say(`+${Math.round(performance.now() - current().t0)}ms`, ...a);
const setStep = (s: string) => (current().step = s);

/** Tool calls per run: the suite's servers list up to a dozen tools; this bounds a hostile list. */
const MAX_CALLS = 20;
/** Authorization round trips per operation (step-up scenarios need two; retry-limit must stop). */
const MAX_AUTHORIZATIONS = 3;
/**
 * Each connect, listing and tool call may take this long: the suite's servers answer at once, but on a
 * machine busy with other work this process and the runner get a sliver of a core each.
 */
const STEP_TIMEOUT_MS = 120_000;

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

function configure(dataDir: string, appUrl?: string): void {
  setEnvForProcess({
    NODE_ENV: "test",
    DATA_DIR: dataDir,
    // Never touch a real database from a conformance run.
    DATABASE_URL: undefined,
    // The runner's servers live on loopback: the egress policy must allow it, as tests do.
    ALLOW_PRIVATE_NETWORK: "1",
    EGRESS_ALLOWLIST: undefined,
    APP_URL: appUrl ?? process.env.CONFORMANCE_APP_URL ?? "http://localhost:3000",
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

async function openScratchDatabase(appUrl?: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-conformance-"));
  const template = process.env.CONFORMANCE_DB_TEMPLATE;
  if (template && fs.existsSync(path.join(template, "pglite"))) fs.cpSync(template, dir, { recursive: true });
  else await migrateInto(path.join(dir, "pglite"));
  configure(dir, appUrl);
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
// What the person does with the tools, per scenario. By default: call every tool once with arguments its
// schema asks for (like the playground form before anyone types), and carry on when a call fails. Where
// a scenario asks the client for something specific, it is done here, as a person following the
// scenario's instructions would.

type Call = { name: string; args: Record<string, unknown> };

/** A field the scenario gives as null is one the person leaves empty: it is not sent (as in the playground). */
function withoutEmptyFields(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== null));
}
type StoredTool = { name: string; inputSchema: unknown };

/** json-schema-2020-12-preservation: "round-trip the focal tool's inputSchema back via the echo tool". */
const SCHEMA_ECHO_TOOL = "json_schema_echo";

export function plannedCalls(name: string, ctx: Record<string, unknown>, tools: StoredTool[]): Call[] {
  // The scenario names the calls and their arguments (http-custom-headers).
  if (Array.isArray(ctx.toolCalls)) {
    return ctx.toolCalls
      .filter((c): c is { name: string; arguments?: Record<string, unknown> } => typeof c?.name === "string")
      .slice(0, MAX_CALLS)
      .map((c) => ({ name: c.name, args: withoutEmptyFields(c.arguments ?? {}) }));
  }
  if (name === "json-schema-2020-12-preservation") {
    const echo = tools.find((t) => t.name === SCHEMA_ECHO_TOOL);
    const focal = tools.find((t) => t.name !== SCHEMA_ECHO_TOOL);
    // The schema as the engine stored it: what it would hand an agent.
    return echo && focal ? [{ name: echo.name, args: { schema: focal.inputSchema } }] : [];
  }
  // The scenario's server answers tools/list only; what it checks is what listing did.
  if (name === "json-schema-ref-no-deref") return [];
  return tools
    .slice(0, MAX_CALLS)
    .map((t) => ({ name: t.name, args: sampleArguments(t.inputSchema as Schema) }));
}

// ---------------------------------------------------------------------------------------------------------

type Engine = Awaited<ReturnType<typeof loadEngine>>;

async function loadEngine() {
  const { getDb, closeDb } = await import("@/lib/db");
  const { syncIntegration } = await import("@/lib/mcp/sync");
  const { storedTool } = await import("@/lib/data/catalog");
  const pool = await import("@/lib/mcp/pool");
  installElicitationResponder();
  const db = await getDb();
  debug("engine loaded, database open");
  return { db, closeDb, syncIntegration, storedTool, pool };
}

type Scenario = { serverUrl: string; name: string; context: Record<string, unknown> };

/** One scenario as one person on the deployment: returns the exit code the runner sees. */
async function runScenario(engine: Engine, sc: Scenario): Promise<number> {
  const { db, syncIntegration, storedTool, pool } = engine;
  const { context } = sc;
  setStep("creating the person and the integration");
  const user = await db.user.create({
    data: { email: `conformance-${Date.now()}-${randomBytes(4).toString("hex")}@example.test` },
  });
  const integ = await db.integration.create({
    data: { userId: user.id, name: sc.name || "conformance", url: sc.serverUrl, authKind: "none" },
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
  // Enterprise-managed authorization: the suite's IdP plays the deployment's OIDC sign-in provider (one
  // per deployment, so such scenarios share it), and the person signed in through it: their ID token is
  // kept as lib/auth/options.ts keeps it at sign-in.
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
        setStep(what);
        return await op();
      } catch (err) {
        const need = authScopeNeeded(err);
        if (!need || authorizations >= MAX_AUTHORIZATIONS) throw err;
        authorizations++;
        say(`${what}: ${(err as Error).message} → authorizing (${authorizations})`);
        setStep(`authorizing for ${what} (${authorizations})`);
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

  try {
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

    const stored = await db.tool.findMany({
      where: { integrationId: integ.id },
      orderBy: { name: "asc" },
      select: { name: true, inputSchema: true },
    });
    const tools = stored.map((t) => storedTool(t));
    let failed = 0;
    for (const call of plannedCalls(sc.name, context, tools)) {
      try {
        const out = await withAuthorization(`call ${call.name}`, () =>
          pool.callTool({ userId: user.id, integrationId: integ.id }, call.name, call.args, {
            timeoutMs: STEP_TIMEOUT_MS,
          }),
        );
        const text = out.result.content?.find((c) => c.type === "text");
        say(
          `called ${call.name}(${JSON.stringify(call.args).slice(0, 200)}) in ${out.latencyMs} ms` +
            `${out.result.isError ? " → isError" : ""}: ${text && "text" in text ? text.text.slice(0, 120) : "(no text)"}`,
        );
      } catch (err) {
        // The person sees the error and goes on with the next tool; the run still ends as failed.
        failed++;
        const e = err as Partial<AppError> & Error;
        say(`call ${call.name} failed: ${e?.name}${e?.code ? ` (${e.code})` : ""}: ${e?.message}`);
      }
    }
    return failed ? 1 : 0;
  } finally {
    setStep("closing");
    await pool.dropSession(user.id, integ.id).catch(() => {});
  }
}

function reportFailure(err: unknown): void {
  const e = err as Partial<AppError> & Error;
  if (err instanceof NotAvailableError) say(`NOT AVAILABLE: ${err.message}`);
  else say(`failed: ${e?.name}${e?.code ? ` (${e.code})` : ""}: ${e?.message}`);
  if (verbose && e?.stack) say(e.stack);
}

async function runStandalone(serverUrl: string): Promise<number> {
  process.once("SIGTERM", () => {
    say(
      `stopped by the runner while ${current().step}, ${Math.round(performance.now() / 1000)} s after start`,
    );
    process.exit(1);
  });
  setStep("opening the database");
  const dataDir = await openScratchDatabase();
  const engine = await loadEngine();
  try {
    return await runScenario(engine, {
      serverUrl,
      name: process.env.MCP_CONFORMANCE_SCENARIO ?? "",
      context: parseContext(process.env.MCP_CONFORMANCE_CONTEXT),
    });
  } finally {
    await engine.pool.closeAll().catch(() => {});
    await engine.closeDb().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Host mode (see the header).

/** Serves the agent endpoint in process, as its route handler would, with `token` added to every request. */
async function startEndpointProxy(): Promise<{
  server: http.Server;
  origin: string;
  setToken(t: string): void;
}> {
  let token = "";
  let handle: ((req: Request) => Promise<Response>) | undefined;
  const server = http.createServer((req, res) => {
    void (async () => {
      handle ??= (await import("@/lib/agent/endpoint")).handleAgentRequest;
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      }
      headers.set("authorization", `Bearer ${token}`);
      const abort = new AbortController();
      res.on("close", () => !res.writableFinished && abort.abort());
      const method = req.method ?? "GET";
      const response = await handle(
        new Request(`http://${req.headers.host ?? "127.0.0.1"}${req.url ?? "/"}`, {
          method,
          headers,
          body: method === "GET" || method === "HEAD" ? undefined : Buffer.concat(chunks),
          signal: abort.signal,
        }),
      );
      res.writeHead(response.status, [...response.headers.entries()].flat());
      if (!response.body) return void res.end();
      Readable.fromWeb(response.body as import("node:stream/web").ReadableStream).pipe(res);
    })().catch((err: unknown) => {
      say(`endpoint proxy: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}`, setToken: (t) => (token = t) };
}

async function serve(socketPath: string): Promise<void> {
  process.on("unhandledRejection", (err) => console.error("[poke-conformance] unhandled:", err));
  const proxy = await startEndpointProxy();
  const dataDir = await openScratchDatabase(proxy.origin);
  const engine = await loadEngine();
  // The agent endpoint's person: an account with an API token.
  const { signUp } = await import("@/lib/data/users");
  const { createApiToken } = await import("@/lib/data/api-tokens");
  const owner = await signUp({
    email: `conformance-agent-${Date.now()}@example.test`,
    password: randomBytes(18).toString("base64url"),
    name: "",
  });
  proxy.setToken((await createApiToken(owner, { name: "conformance", expiresInDays: undefined })).token);
  // One integration, so the endpoint lists tools: a real 2026-07-28 server (test/fixtures) whose tools
  // declare `x-mcp-header` parameters, which the endpoint passes on verbatim.
  const { HEADER_TOOLS, startProtocolServer } = await import("@/test/fixtures/protocol-servers");
  const fixture = await startProtocolServer({ tools: HEADER_TOOLS });
  const integ = await engine.db.integration.create({
    data: { userId: owner.id, name: "fixture", url: fixture.url, authKind: "none" },
  });
  await engine.syncIntegration(owner.id, integ.id, { timeoutMs: STEP_TIMEOUT_MS });

  const host = net.createServer((sock) => {
    let buf = "";
    sock.setEncoding("utf8");
    const onData = (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      sock.off("data", onData);
      let sc: Scenario;
      try {
        const msg = JSON.parse(buf.slice(0, nl)) as Partial<Scenario> & { context?: string };
        sc = { serverUrl: String(msg.serverUrl), name: msg.name ?? "", context: parseContext(msg.context) };
      } catch {
        sock.end(JSON.stringify({ exit: 2 }) + "\n");
        return;
      }
      const run: Run = {
        write: (line) => sock.writable && sock.write(JSON.stringify({ line }) + "\n"),
        step: "starting",
        t0: performance.now(),
      };
      void runs.run(run, async () => {
        let code = 1;
        try {
          code = await runScenario(engine, sc);
        } catch (err) {
          reportFailure(err);
        }
        if (sock.writable) sock.end(JSON.stringify({ exit: code }) + "\n");
      });
    };
    sock.on("data", onData);
    sock.on("error", () => {});
  });
  fs.rmSync(socketPath, { force: true });
  await new Promise<void>((resolve) => host.listen(socketPath, resolve));
  const stop = async () => {
    host.close();
    proxy.server.closeAllConnections();
    proxy.server.close();
    await fixture.close().catch(() => {});
    await engine.pool.closeAll().catch(() => {});
    await (await import("@/lib/agent/endpoint")).closeAgentEndpoint().catch(() => {});
    await engine.closeDb().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(socketPath, { force: true });
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
  // The runner ends the host by closing its stdin (or by SIGTERM).
  process.stdin.on("end", () => void stop());
  process.stdin.resume();
  console.log(JSON.stringify({ ready: true, endpoint: `${proxy.origin}/api/mcp` }));
}

async function main(argv: string[]): Promise<number | undefined> {
  const prep = argv.indexOf("--prepare-template");
  if (prep >= 0) {
    const dir = path.resolve(argv[prep + 1] ?? "");
    await migrateInto(path.join(dir, "pglite"));
    return 0;
  }
  const host = argv.indexOf("--serve");
  if (host >= 0) {
    await serve(path.resolve(argv[host + 1] ?? ""));
    return undefined; // runs until stopped
  }
  const serverUrl = argv.at(-1);
  if (!serverUrl || !/^https?:\/\//.test(serverUrl)) {
    say("usage: conformance-client.ts <server-url>  |  --serve SOCKET  |  --prepare-template DIR");
    return 2;
  }
  return runStandalone(serverUrl);
}

main(process.argv.slice(2)).then(
  (code) => code !== undefined && process.exit(code),
  (err: unknown) => {
    reportFailure(err);
    process.exit(1);
  },
);
