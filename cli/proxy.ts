// poke proxy (also installed as `mcp-proxy`) — bridges MCP transports, with mcp-proxy's command line:
// - stdio → HTTP (cli/proxy-server.ts): runs stdio servers and serves them over Streamable HTTP and SSE;
// - HTTP → stdio (cli/proxy-client.ts): makes a remote server usable by a stdio-only client.
import fs from "node:fs";
import path from "node:path";
import { showHelp } from "./args";
import { parseProxyArgs } from "./proxy-args";
import { makeLog, startStdioHttpProxy } from "./proxy-server";

export { startStdioHttpProxy, type RunningProxy, type StdioHttpOptions } from "./proxy-server";

const VERSION = "0.1.0";

function programName(): string {
  const invoked = path.basename(process.argv[1] ?? "").replace(/\.[cm]?js$/, "");
  return invoked === "mcp-proxy" ? "mcp-proxy" : "poke proxy";
}

export function proxyHelp(prog = programName()): string {
  return `Usage: ${prog} [options] <command> [args…]          stdio server(s) → HTTP
       ${prog} [options] --named-server NAME 'COMMAND ARGS' …
       ${prog} [options] <url>                        HTTP server → stdio

Accepts mcp-proxy's arguments and environment as documented for it; options may also follow the
command, and the command's own flags need no \`--\` unless they are also options listed here.

stdio → HTTP: runs <command> as a stdio MCP server and serves it over Streamable HTTP at /mcp and
legacy SSE at /sse (+ /messages), several clients at once, one server process per session.
Named servers are served at /servers/NAME/mcp and /servers/NAME/sse; GET /status reports them.
Prints the base URL on stdout. The servers' stderr passes through.
  --port PORT, --sse-port PORT   port to listen on (default: a free port)
  --host HOST, --sse-host HOST   address to listen on (default 127.0.0.1; loopback only answers to
                                 loopback Host names)
  -e, --env KEY VALUE            variable for the default server (repeatable; KEY=VALUE works too)
  --cwd DIR                      working directory of the default server
  --pass-environment             servers inherit this process's whole environment (default: only
                                 PATH, HOME, USER, LOGNAME, SHELL, TERM, plus --env); --no-pass-environment
  --named-server NAME 'COMMAND ARGS'
                                 another stdio server, at /servers/NAME/ (repeatable)
  --named-server-config FILE     named servers from a JSON file: {"mcpServers": {"NAME": {"command": "…",
                                 "args": […], "env": {…}, "headerToEnv": {"Header": "VAR"}}}} (replaces
                                 --named-server; entries with "enabled": false or "disabled": true skipped)
  --allow-origin ORIGIN          let browser pages from ORIGIN (or *) call the proxy (CORS; repeatable);
                                 other origins are refused
  --stateless                    Streamable HTTP without sessions: one shared server process per server
  --session-timeout DURATION     close sessions idle this long and stop their server process
                                 (default 30m; e.g. 90s, 500ms; 0 = never)

HTTP → stdio: connects to the MCP server at <url> and serves it on stdin/stdout.
  --transport sse|streamablehttp use this transport (default: Streamable HTTP, falling back to SSE)
  -H, --headers KEY VALUE        header for every request to <url> (repeatable)
  --api-access-token TOKEN       send Authorization: Bearer TOKEN (or set API_ACCESS_TOKEN)
  --verify-ssl, --no-verify-ssl  check the server's TLS certificate (default) or not;
                                 --verify-ssl=FILE trusts the CA certificates in FILE

Other:
  --log-level LEVEL              DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO); --debug = DEBUG
  --version                      print the version
  -h, --help                     show this help
  --                             everything after it is the command and its arguments

Environment: API_ACCESS_TOKEN (bearer token for <url>), SSE_URL (<url> when none is given).

Examples:
  ${prog} --port 8080 -- npx -y @modelcontextprotocol/server-everything
  ${prog} --port 8080 node --no-warnings server.js
  ${prog} --port 8080 --named-server fetch 'uvx mcp-server-fetch' --named-server files 'npx -y @modelcontextprotocol/server-filesystem /tmp'
  ${prog} --port 8080 --named-server-config servers.json
  ${prog} --port 8080 -e API_KEY secret --allow-origin https://app.example.com -- python server.py
  ${prog} https://poke.example.com/api/mcp --api-access-token poke_…
  ${prog} --transport sse --headers Authorization 'Bearer …' https://mcp.example.com/sse`;
}

export async function proxy(argv: string[]): Promise<number> {
  const prog = programName();
  const help = proxyHelp(prog);
  // A usage error shows the synopsis and where the rest is, not all of --help.
  const synopsis = `${help.slice(0, help.indexOf("\n\n"))}\n\nRun \`${prog} --help\` for every option.`;
  const cfg = parseProxyArgs(
    argv,
    { env: process.env, readFile: (p) => fs.readFileSync(p, "utf8") },
    synopsis,
  );
  if (cfg.mode === "help") return showHelp(help);
  if (cfg.mode === "version") return showHelp(`${prog} ${VERSION} (Poke)`);
  const log = makeLog(prog, cfg.logLevel);
  for (const w of cfg.warnings) log.warn(w);

  if (cfg.mode === "client") return (await import("./proxy-client")).httpToStdio(cfg, log);

  const running = await startStdioHttpProxy({
    command: cfg.defaultServer?.command,
    args: cfg.defaultServer?.args,
    env: cfg.defaultServer?.env,
    cwd: cfg.defaultServer?.cwd,
    servers: cfg.namedServers,
    passEnvironment: cfg.passEnvironment,
    host: cfg.host,
    port: cfg.port,
    stateless: cfg.stateless,
    allowOrigins: cfg.allowOrigins,
    sessionTimeoutMs: cfg.sessionTimeoutMs,
    log,
  });
  if (!running.url) return running.exited;
  const d = cfg.defaultServer;
  if (d) {
    log.info(`serving \`${[d.command, ...d.args].join(" ")}\``);
    log.info(`  Streamable HTTP: ${running.url}/mcp`);
    log.info(`  SSE:             ${running.url}/sse`);
  }
  for (const [name, s] of Object.entries(cfg.namedServers)) {
    log.info(`serving "${name}" (\`${[s.command, ...s.args].join(" ")}\`)`);
    log.info(`  Streamable HTTP: ${running.url}/servers/${name}/mcp`);
    log.info(`  SSE:             ${running.url}/servers/${name}/sse`);
  }
  // stdout carries just the base URL, for scripts.
  console.log(running.url);
  let stopped = false;
  const onSignal = () => {
    stopped = true;
    void running.close();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const code = await running.exited;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  return stopped ? 0 : code;
}
