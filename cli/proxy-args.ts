// The command line of `poke proxy` / `mcp-proxy`: mcp-proxy's documented arguments and environment,
// accepted as written for it (positional command_or_url, -H/--headers KEY VALUE, -e/--env KEY VALUE,
// --named-server NAME 'COMMAND ARGS', --named-server-config FILE, --sse-port/--sse-host, …), plus this
// proxy's own (--api-access-token, --env KEY=VALUE, --session-timeout). Pure: the environment and the file
// reader are passed in, so it is unit-tested without processes.
//
// Like mcp-proxy, options are recognised anywhere before `--`, also after the command; an option this
// proxy does not know is an error before the command and the child's own flag after it
// (`mcp-proxy --port 8080 node --no-warnings server.js`).
import { UsageError } from "./args";

export type ServerSpec = {
  command: string;
  args: string[];
  /** Variables added to the base environment (see `passEnvironment`). */
  env: Record<string, string>;
  cwd?: string;
  /** Request header → variable, read when a session starts (mcp-proxy's `headerToEnv`). */
  headerToEnv?: Record<string, string>;
};

export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";

export type ClientConfig = {
  mode: "client";
  url: string;
  headers: Record<string, string>;
  transport?: "sse" | "streamablehttp";
  /** true, false, or the path of a CA bundle to trust. */
  verifySsl: boolean | string;
  logLevel: LogLevel;
  warnings: string[];
};

export type ServerConfig = {
  mode: "server";
  host: string;
  port: number;
  stateless: boolean;
  allowOrigins: string[];
  /** Idle sessions are closed (and their server process stopped) after this long; 0 = never. */
  sessionTimeoutMs: number;
  passEnvironment: boolean;
  defaultServer?: ServerSpec;
  namedServers: Record<string, ServerSpec>;
  logLevel: LogLevel;
  warnings: string[];
};

export type ProxyConfig = { mode: "help" } | { mode: "version" } | ClientConfig | ServerConfig;

export const DEFAULT_SESSION_TIMEOUT_MS = 30 * 60_000;

type Arity = 0 | 1 | 2 | "origins" | "optional";
type OptionSpec = { key: string; arity: Arity; negatable?: boolean };

// Long names (and their short aliases) → what they set.
const OPTIONS: Record<string, OptionSpec> = {
  "--help": { key: "help", arity: 0 },
  "-h": { key: "help", arity: 0 },
  "--version": { key: "version", arity: 0 },
  "--headers": { key: "headers", arity: 2 },
  "-H": { key: "headers", arity: 2 },
  "--transport": { key: "transport", arity: 1 },
  "--api-access-token": { key: "token", arity: 1 },
  "--verify-ssl": { key: "verifySsl", arity: "optional", negatable: true },
  "--env": { key: "env", arity: 2 },
  "-e": { key: "env", arity: 2 },
  "--cwd": { key: "cwd", arity: 1 },
  "--pass-environment": { key: "passEnvironment", arity: 0, negatable: true },
  "--log-level": { key: "logLevel", arity: 1 },
  "--debug": { key: "debug", arity: 0, negatable: true },
  "--named-server": { key: "namedServer", arity: 2 },
  "--named-server-config": { key: "namedServerConfig", arity: 1 },
  "--port": { key: "port", arity: 1 },
  "--host": { key: "host", arity: 1 },
  "--stateless": { key: "stateless", arity: 0, negatable: true },
  "--sse-port": { key: "ssePort", arity: 1 },
  "--sse-host": { key: "sseHost", arity: 1 },
  "--allow-origin": { key: "allowOrigin", arity: "origins" },
  "--session-timeout": { key: "sessionTimeout", arity: 1 },
};

const LEVELS: LogLevel[] = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function knownNames(): string[] {
  const names: string[] = [];
  for (const [name, spec] of Object.entries(OPTIONS)) {
    names.push(name);
    if (spec.negatable) names.push(`--no-${name.slice(2)}`);
  }
  return names;
}

function lookup(name: string): { spec: OptionSpec; negated: boolean } | undefined {
  const direct = OPTIONS[name];
  if (direct) return { spec: direct, negated: false };
  if (name.startsWith("--no-")) {
    const spec = OPTIONS[`--${name.slice(5)}`];
    if (spec?.negatable) return { spec, negated: true };
  }
  return undefined;
}

/** "Did you mean …?" for an unknown option: same letters ignoring case/-/_ first, then edit distance. */
export function closestOption(name: string): string | undefined {
  const norm = (s: string) => s.replace(/^-+/, "").replace(/[-_]/g, "").toLowerCase();
  const names = knownNames().filter((n) => n.startsWith("--"));
  const wanted = norm(name.split("=")[0]);
  const same = names.find((n) => norm(n) === wanted);
  if (same) return same;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const n of names) {
    const d = editDistance(wanted, norm(n));
    if (d < bestDistance) [best, bestDistance] = [n, d];
  }
  const prefix = names.find((n) => wanted.length >= 3 && norm(n).startsWith(wanted));
  if (bestDistance <= Math.max(2, Math.floor(wanted.length / 3))) return best;
  return prefix;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Splits a command string as a POSIX shell would (quotes and backslashes; no expansion). */
export function splitCommandString(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      has = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} quote`);
  if (has || cur) out.push(cur);
  return out;
}

/** "30m", "90s", "500ms", "1h", or a number of seconds. 0 or "off" disables. */
export function parseDuration(s: string): number | undefined {
  if (/^(off|never|0)$/i.test(s.trim())) return 0;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(s);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? "s").toLowerCase();
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"]);
}

function looksLikeOrigin(tok: string): boolean {
  return tok === "*" || /^https?:\/\/[^/\s]+$/i.test(tok);
}

type Raw = {
  flags: Map<string, boolean>;
  values: Map<string, string>;
  pairs: Map<string, [string, string][]>;
  origins: string[];
  envAssignments: [string, string][];
  verifySsl?: boolean | string;
};

export type ParseContext = {
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
};

export function parseProxyArgs(argv: string[], ctx: ParseContext, help: string): ProxyConfig {
  const usage = (m: string) => new UsageError(m, help);
  const raw: Raw = { flags: new Map(), values: new Map(), pairs: new Map(), origins: [], envAssignments: [] };
  let command: string | undefined;
  const commandArgs: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === "--") {
      const rest = argv.slice(i + 1);
      if (command === undefined) command = rest.shift();
      commandArgs.push(...rest);
      break;
    }
    const isOption = tok.startsWith("-") && tok.length > 1 && !/^-\d/.test(tok);
    if (!isOption) {
      if (command === undefined) command = tok;
      else commandArgs.push(tok);
      continue;
    }
    const eq = tok.startsWith("--") ? tok.indexOf("=") : -1;
    const name = eq > 0 ? tok.slice(0, eq) : tok;
    const inline = eq > 0 ? tok.slice(eq + 1) : undefined;
    const found = lookup(name);
    if (!found) {
      if (command !== undefined) {
        commandArgs.push(tok); // the child's own flag
        continue;
      }
      const hint = closestOption(name);
      throw usage(`Unknown option ${name}.${hint ? ` Did you mean ${hint}?` : ""}`);
    }
    const { spec, negated } = found;
    const take = (what: string): string => {
      const v = argv[i + 1];
      if (v === undefined || v === "--") throw usage(`${name} needs ${what}.`);
      i++;
      return v;
    };
    if (negated) {
      if (inline !== undefined) throw usage(`${name} takes no value.`);
      if (spec.key === "verifySsl") raw.verifySsl = false;
      else raw.flags.set(spec.key, false);
      continue;
    }
    switch (spec.arity) {
      case 0:
        if (inline !== undefined) throw usage(`${name} takes no value.`);
        raw.flags.set(spec.key, true);
        break;
      case "optional": // --verify-ssl, --verify-ssl=false, --verify-ssl=/path/ca.pem
        if (inline === undefined || /^(1|true|yes)$/i.test(inline)) raw.verifySsl = true;
        else if (/^(0|false|no)$/i.test(inline)) raw.verifySsl = false;
        else raw.verifySsl = inline;
        break;
      case 1:
        raw.values.set(spec.key, inline ?? take("a value"));
        break;
      case "origins": {
        raw.origins.push(inline ?? take("an origin (or *)"));
        while (i + 1 < argv.length && looksLikeOrigin(argv[i + 1])) raw.origins.push(argv[++i]);
        break;
      }
      case 2: {
        if (inline !== undefined) throw usage(`${name} takes two values: ${name} KEY VALUE.`);
        const first = take(spec.key === "namedServer" ? "NAME 'COMMAND ARGS'" : "KEY VALUE");
        // --env KEY=VALUE (one word) is accepted as well as mcp-proxy's --env KEY VALUE.
        if (
          spec.key === "env" &&
          first.includes("=") &&
          ENV_NAME_RE.test(first.slice(0, first.indexOf("=")))
        ) {
          raw.envAssignments.push([first.slice(0, first.indexOf("=")), first.slice(first.indexOf("=") + 1)]);
          break;
        }
        const second = take(spec.key === "namedServer" ? "NAME 'COMMAND ARGS'" : "KEY VALUE");
        if (spec.key === "env") raw.envAssignments.push([first, second]);
        else raw.pairs.set(spec.key, [...(raw.pairs.get(spec.key) ?? []), [first, second]]);
        break;
      }
    }
  }

  if (raw.flags.get("help")) return { mode: "help" };
  if (raw.flags.get("version")) return { mode: "version" };

  const warnings: string[] = [];
  const levelRaw = raw.values.get("logLevel");
  let logLevel: LogLevel = "INFO";
  if (levelRaw !== undefined) {
    const l = levelRaw.toUpperCase() as LogLevel;
    if (!LEVELS.includes(l)) throw usage(`--log-level must be one of ${LEVELS.join(", ")}.`);
    logLevel = l;
  }
  if (raw.flags.get("debug")) logLevel = "DEBUG";

  // SSE_URL: mcp-proxy's older way of giving the URL.
  if (command === undefined && ctx.env.SSE_URL) command = ctx.env.SSE_URL;
  const named = raw.pairs.get("namedServer") ?? [];
  const configPath = raw.values.get("namedServerConfig");

  if (command !== undefined && /^https?:\/\//i.test(command)) {
    if (commandArgs.length)
      throw usage(
        `A URL takes no further arguments (got ${commandArgs.map((a) => JSON.stringify(a)).join(" ")}).`,
      );
    let url: URL;
    try {
      url = new URL(command);
    } catch {
      throw usage(`"${command}" is not a valid URL.`);
    }
    const transport = raw.values.get("transport");
    if (transport !== undefined && transport !== "sse" && transport !== "streamablehttp")
      throw usage(`--transport must be sse or streamablehttp (got "${transport}").`);
    const headers: Record<string, string> = {};
    for (const [k, v] of raw.pairs.get("headers") ?? []) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) throw usage(`"${k}" is not a valid header name.`);
      headers[k] = v;
    }
    const token = raw.values.get("token") ?? ctx.env.API_ACCESS_TOKEN;
    if (token) headers.Authorization = `Bearer ${token}`;
    for (const [flag, present] of [
      ["--named-server", named.length > 0],
      ["--named-server-config", configPath !== undefined],
      ["--env", raw.envAssignments.length > 0],
      ["--allow-origin", raw.origins.length > 0],
    ] as const)
      if (present) warnings.push(`${flag} only applies when serving a command; ignored.`);
    return {
      mode: "client",
      url: url.href,
      headers,
      transport,
      verifySsl: raw.verifySsl ?? true,
      logLevel,
      warnings,
    };
  }

  // Serving stdio servers over HTTP.
  const port = parsePort(raw.values.get("port") ?? raw.values.get("ssePort") ?? "0", usage);
  const host = raw.values.get("host") ?? raw.values.get("sseHost") ?? "127.0.0.1";
  const timeoutRaw = raw.values.get("sessionTimeout");
  let sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS;
  if (timeoutRaw !== undefined) {
    const t = parseDuration(timeoutRaw);
    if (t === undefined)
      throw usage(`--session-timeout takes a duration such as 30m, 90s or 500ms (got "${timeoutRaw}").`);
    sessionTimeoutMs = t;
  }
  for (const o of raw.origins)
    if (o !== "*" && !/^https?:\/\/[^/\s]+$/i.test(o))
      throw usage(`--allow-origin takes an origin such as https://app.example.com, or * (got "${o}").`);
  for (const [flag, present] of [
    ["--headers", (raw.pairs.get("headers") ?? []).length > 0],
    ["--transport", raw.values.has("transport")],
    ["--api-access-token", raw.values.has("token")],
    ["--verify-ssl", raw.verifySsl !== undefined],
  ] as const)
    if (present) warnings.push(`${flag} only applies when connecting to a URL; ignored.`);

  const env: Record<string, string> = {};
  for (const [k, v] of raw.envAssignments) {
    if (!ENV_NAME_RE.test(k)) throw usage(`--env: "${k}" is not a valid variable name.`);
    env[k] = v;
  }
  const defaultServer: ServerSpec | undefined =
    command !== undefined ? { command, args: commandArgs, env, cwd: raw.values.get("cwd") } : undefined;

  let namedServers: Record<string, ServerSpec> = {};
  if (configPath !== undefined) {
    if (named.length) warnings.push("--named-server is ignored when --named-server-config is given.");
    namedServers = loadNamedServerConfig(configPath, ctx.readFile, usage);
  } else {
    for (const [name, commandString] of named) {
      if (!NAME_RE.test(name))
        throw usage(`--named-server: "${name}" can't be a URL path segment (letters, digits, . _ -).`);
      if (namedServers[name]) throw usage(`--named-server: "${name}" is defined twice.`);
      let parts: string[];
      try {
        parts = splitCommandString(commandString);
      } catch (e) {
        throw usage(`--named-server ${name}: ${(e as Error).message} in "${commandString}".`);
      }
      if (!parts.length) throw usage(`--named-server ${name}: the command is empty.`);
      namedServers[name] = { command: parts[0], args: parts.slice(1), env: {} };
    }
  }
  if (!defaultServer && !Object.keys(namedServers).length)
    throw usage(
      "Give a command to run (e.g. `mcp-proxy --port 8080 -- npx -y @modelcontextprotocol/server-everything`), " +
        "--named-server NAME 'COMMAND', --named-server-config FILE, or a URL to connect to.",
    );
  if (raw.values.has("cwd") && !defaultServer)
    warnings.push("--cwd applies to the default server only; named servers run in the proxy's directory.");
  return {
    mode: "server",
    host,
    port,
    stateless: raw.flags.get("stateless") ?? false,
    allowOrigins: raw.origins,
    sessionTimeoutMs,
    passEnvironment: raw.flags.get("passEnvironment") ?? false,
    defaultServer,
    namedServers,
    logLevel,
    warnings,
  };
}

function parsePort(s: string, usage: (m: string) => UsageError): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isInteger(n) || n < 0 || n > 65535)
    throw usage(`The port must be a number from 0 to 65535 (got "${s}").`);
  return n;
}

/**
 * mcp-proxy's --named-server-config file: `{"mcpServers": {NAME: {command, args?, env?, enabled?,
 * disabled?, headerToEnv?, timeout?, transportType?}}}` — the format MCP clients use. `timeout` and
 * `transportType` are accepted and ignored (every server is a stdio command), as in mcp-proxy.
 */
export function loadNamedServerConfig(
  file: string,
  readFile: (p: string) => string,
  usage: (m: string) => UsageError,
): Record<string, ServerSpec> {
  let text: string;
  try {
    text = readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usage(
      `--named-server-config: cannot read ${file}${code === "ENOENT" ? " (no such file)" : code ? ` (${code})` : ""}.`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw usage(`--named-server-config: ${file} is not valid JSON (${(e as Error).message}).`);
  }
  const servers = (doc as { mcpServers?: unknown } | null)?.mcpServers;
  if (!servers || typeof servers !== "object" || Array.isArray(servers))
    throw usage(
      `--named-server-config: ${file} needs an "mcpServers" object: {"mcpServers": {"name": {"command": …}}}.`,
    );
  const out: Record<string, ServerSpec> = {};
  for (const [name, def] of Object.entries(servers as Record<string, unknown>)) {
    const where = `--named-server-config: "${name}" in ${file}`;
    if (!def || typeof def !== "object" || Array.isArray(def)) throw usage(`${where} must be an object.`);
    const d = def as Record<string, unknown>;
    if (d.enabled === false || d.disabled === true) continue;
    if (!NAME_RE.test(name))
      throw usage(`${where}: the name can't be a URL path segment (letters, digits, . _ -).`);
    if (typeof d.command !== "string" || !d.command) throw usage(`${where} needs a "command" string.`);
    if (d.args !== undefined && (!Array.isArray(d.args) || d.args.some((a) => typeof a !== "string")))
      throw usage(`${where}: "args" must be a list of strings.`);
    const strings = (v: unknown, field: string): Record<string, string> => {
      if (v === undefined) return {};
      if (
        !v ||
        typeof v !== "object" ||
        Array.isArray(v) ||
        Object.values(v).some((x) => typeof x !== "string")
      )
        throw usage(`${where}: "${field}" must map names to strings.`);
      return v as Record<string, string>;
    };
    const env = strings(d.env, "env");
    const headerToEnv = strings(d.headerToEnv, "headerToEnv");
    out[name] = {
      command: d.command,
      args: (d.args as string[] | undefined) ?? [],
      env,
      cwd: typeof d.cwd === "string" ? d.cwd : undefined,
      headerToEnv: Object.keys(headerToEnv).length ? headerToEnv : undefined,
    };
  }
  return out;
}
