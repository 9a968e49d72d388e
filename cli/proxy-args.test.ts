// The proxy's command line: every documented mcp-proxy form, the forms `poke proxy` always took, and
// usage errors that say what was meant.
import { describe, expect, it } from "vitest";
import { UsageError } from "./args";
import {
  closestOption,
  DEFAULT_SESSION_TIMEOUT_MS,
  parseDuration,
  parseProxyArgs,
  splitCommandString,
  type ClientConfig,
  type ServerConfig,
} from "./proxy-args";

const files: Record<string, string> = {};
const ctx = (env: Record<string, string> = {}) => ({
  env,
  readFile: (p: string) => {
    if (!(p in files)) throw Object.assign(new Error("missing"), { code: "ENOENT" });
    return files[p];
  },
});
const server = (argv: string[], env?: Record<string, string>) =>
  parseProxyArgs(argv, ctx(env), "help") as ServerConfig;
const client = (argv: string[], env?: Record<string, string>) =>
  parseProxyArgs(argv, ctx(env), "help") as ClientConfig;
const usageError = (argv: string[]) => {
  try {
    parseProxyArgs(argv, ctx(), "help");
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(" ")}`);
};

describe("stdio → HTTP arguments", () => {
  it("takes the command after --, or without it, with the child's own flags", () => {
    const a = server(["--port", "8080", "--", "node", "--no-warnings", "server.js", "--port", "1"]);
    expect(a.mode).toBe("server");
    expect(a.port).toBe(8080);
    expect(a.defaultServer).toMatchObject({
      command: "node",
      args: ["--no-warnings", "server.js", "--port", "1"],
    });
    const b = server(["--port=8080", "node", "--no-warnings", "server.js"]);
    expect(b.defaultServer).toMatchObject({ command: "node", args: ["--no-warnings", "server.js"] });
    // As in mcp-proxy, a known option after the command is the proxy's.
    const c = server(["uvx", "mcp-server-fetch", "--port", "9000", "-e", "KEY", "VALUE"]);
    expect(c.port).toBe(9000);
    expect(c.defaultServer).toMatchObject({
      command: "uvx",
      args: ["mcp-server-fetch"],
      env: { KEY: "VALUE" },
    });
  });

  it("reads --sse-port/--sse-host and --port/--host (the latter win), defaults to 127.0.0.1 and a free port", () => {
    expect(server(["--sse-port", "8096", "--sse-host", "0.0.0.0", "x"])).toMatchObject({
      port: 8096,
      host: "0.0.0.0",
    });
    expect(server(["--sse-port=1", "--port=2", "x"]).port).toBe(2);
    expect(server(["x"])).toMatchObject({
      port: 0,
      host: "127.0.0.1",
      stateless: false,
      passEnvironment: false,
    });
    expect(usageError(["--port", "99999", "x"])).toMatch(/0 to 65535/);
  });

  it("takes --env KEY VALUE, -e KEY VALUE and --env KEY=VALUE, and --cwd, for the default server", () => {
    const a = server([
      "-e",
      "A",
      "1",
      "--env",
      "B",
      "two words",
      "--env",
      "C=x=y",
      "--cwd",
      "/tmp",
      "--",
      "cmd",
    ]);
    expect(a.defaultServer).toEqual({
      command: "cmd",
      args: [],
      env: { A: "1", B: "two words", C: "x=y" },
      cwd: "/tmp",
    });
    expect(usageError(["--env", "A", "--", "cmd"])).toMatch(/--env needs KEY VALUE/);
  });

  it("takes boolean pairs: --pass-environment/--no-pass-environment, --stateless/--no-stateless, --debug", () => {
    expect(server(["--pass-environment", "--stateless", "x"])).toMatchObject({
      passEnvironment: true,
      stateless: true,
    });
    expect(server(["--pass-environment", "--no-pass-environment", "--no-stateless", "x"])).toMatchObject({
      passEnvironment: false,
      stateless: false,
    });
    expect(server(["--debug", "x"]).logLevel).toBe("DEBUG");
    expect(server(["--log-level", "warning", "x"]).logLevel).toBe("WARNING");
    expect(usageError(["--log-level", "loud", "x"])).toMatch(/DEBUG, INFO/);
  });

  it("takes --allow-origin repeatedly, and several origins after one flag", () => {
    const a = server([
      "--allow-origin",
      "https://a.example",
      "http://b.example:3000",
      "--allow-origin=*",
      "cmd",
    ]);
    expect(a.allowOrigins).toEqual(["https://a.example", "http://b.example:3000", "*"]);
    expect(a.defaultServer?.command).toBe("cmd");
    expect(usageError(["--allow-origin", "https://a.example/path", "--", "cmd"])).toMatch(/origin such as/);
  });

  it("takes --session-timeout as a duration (default 30 minutes)", () => {
    expect(server(["x"]).sessionTimeoutMs).toBe(DEFAULT_SESSION_TIMEOUT_MS);
    expect(server(["--session-timeout", "90s", "x"]).sessionTimeoutMs).toBe(90_000);
    expect(server(["--session-timeout=500ms", "x"]).sessionTimeoutMs).toBe(500);
    expect(server(["--session-timeout", "0", "x"]).sessionTimeoutMs).toBe(0);
    expect(usageError(["--session-timeout", "soon", "x"])).toMatch(/duration/);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
  });

  it("takes --named-server NAME 'COMMAND ARGS' (shell-quoted), with or without a default server", () => {
    const a = server([
      "--port=8080",
      "--named-server",
      "fetch",
      "uvx mcp-server-fetch --user-agent 'My Agent'",
      "--named-server",
      "files",
      'npx -y server-filesystem "/tmp/a b"',
    ]);
    expect(a.defaultServer).toBeUndefined();
    expect(a.namedServers).toEqual({
      fetch: { command: "uvx", args: ["mcp-server-fetch", "--user-agent", "My Agent"], env: {} },
      files: { command: "npx", args: ["-y", "server-filesystem", "/tmp/a b"], env: {} },
    });
    const b = server(["--named-server", "x", "cmd", "--", "default-cmd", "--flag"]);
    expect(b.defaultServer).toMatchObject({ command: "default-cmd", args: ["--flag"] });
    expect(usageError(["--named-server", "a/b", "cmd"])).toMatch(/URL path segment/);
    expect(usageError(["--named-server", "a", "cmd", "--named-server", "a", "cmd2"])).toMatch(
      /defined twice/,
    );
    expect(usageError(["--named-server", "a", "cmd 'open"])).toMatch(/unclosed ' quote/);
    expect(usageError(["--named-server", "a"])).toMatch(/needs NAME 'COMMAND ARGS'/);
  });

  it("reads --named-server-config in mcp-proxy's (and MCP clients') mcpServers format", () => {
    files["/cfg.json"] = JSON.stringify({
      mcpServers: {
        fetch: {
          command: "uvx",
          args: ["mcp-server-fetch"],
          timeout: 60,
          transportType: "stdio",
          enabled: true,
        },
        github: {
          command: "npx",
          args: ["-y", "@modelcontextprotocol/server-github"],
          env: { GITHUB_PERSONAL_ACCESS_TOKEN: "t" },
          headerToEnv: { "X-Github-Token": "GITHUB_PERSONAL_ACCESS_TOKEN" },
        },
        off: { command: "x", disabled: true },
        off2: { command: "x", enabled: false },
      },
    });
    const a = server(["--named-server-config", "/cfg.json", "--named-server", "ignored", "cmd"]);
    expect(Object.keys(a.namedServers)).toEqual(["fetch", "github"]);
    expect(a.namedServers.github).toMatchObject({
      env: { GITHUB_PERSONAL_ACCESS_TOKEN: "t" },
      headerToEnv: { "X-Github-Token": "GITHUB_PERSONAL_ACCESS_TOKEN" },
    });
    expect(a.warnings.join(" ")).toMatch(/--named-server is ignored/);

    files["/bad.json"] = "{ nope";
    files["/shape.json"] = JSON.stringify({ servers: {} });
    files["/nocmd.json"] = JSON.stringify({ mcpServers: { a: { args: [] } } });
    expect(usageError(["--named-server-config", "/missing.json"])).toMatch(
      /cannot read \/missing.json \(no such file\)/,
    );
    expect(usageError(["--named-server-config", "/bad.json"])).toMatch(/not valid JSON/);
    expect(usageError(["--named-server-config", "/shape.json"])).toMatch(/needs an "mcpServers" object/);
    expect(usageError(["--named-server-config", "/nocmd.json"])).toMatch(/"a" .* needs a "command" string/);
  });

  it("asks for something to serve", () => {
    expect(usageError([])).toMatch(/Give a command to run/);
  });
});

describe("HTTP → stdio arguments", () => {
  it("takes the URL with -H/--headers KEY VALUE, --transport, --api-access-token and API_ACCESS_TOKEN", () => {
    const a = client(["--headers", "Authorization", "Bearer abc", "-H", "X-Team", "core", "http://h/sse"]);
    expect(a).toMatchObject({
      mode: "client",
      url: "http://h/sse",
      headers: { Authorization: "Bearer abc", "X-Team": "core" },
      transport: undefined,
      verifySsl: true,
    });
    expect(client(["--transport", "streamablehttp", "http://h/mcp"]).transport).toBe("streamablehttp");
    expect(client(["--transport=sse", "http://h/sse"]).transport).toBe("sse");
    expect(usageError(["--transport", "websocket", "http://h/"])).toMatch(/sse or streamablehttp/);
    expect(client(["http://h/mcp", "--api-access-token", "tok"]).headers).toEqual({
      Authorization: "Bearer tok",
    });
    expect(client(["http://h/mcp"], { API_ACCESS_TOKEN: "envtok" }).headers).toEqual({
      Authorization: "Bearer envtok",
    });
    expect(client([], { SSE_URL: "http://legacy/sse" }).url).toBe("http://legacy/sse");
    expect(usageError(["http://h/mcp", "extra"])).toMatch(/A URL takes no further arguments/);
  });

  it("takes --verify-ssl, --no-verify-ssl and --verify-ssl=CA-FILE", () => {
    expect(client(["--no-verify-ssl", "https://h/mcp"]).verifySsl).toBe(false);
    expect(client(["--verify-ssl", "https://h/mcp"]).verifySsl).toBe(true);
    expect(client(["--verify-ssl=false", "https://h/mcp"]).verifySsl).toBe(false);
    expect(client(["--verify-ssl=/etc/ca.pem", "https://h/mcp"]).verifySsl).toBe("/etc/ca.pem");
  });

  it("warns about server-only options given with a URL", () => {
    expect(client(["--allow-origin", "*", "http://h/mcp"]).warnings.join(" ")).toMatch(
      /--allow-origin only applies/,
    );
  });
});

describe("help, version and unknown options", () => {
  it("answers -h, --help (anywhere) and --version", () => {
    expect(parseProxyArgs(["-h"], ctx(), "help")).toEqual({ mode: "help" });
    expect(parseProxyArgs(["cmd", "--help"], ctx(), "help")).toEqual({ mode: "help" });
    expect(parseProxyArgs(["--version"], ctx(), "help")).toEqual({ mode: "version" });
  });

  it("names the closest known option", () => {
    expect(usageError(["--sse-prot", "8080", "x"])).toBe(
      "Unknown option --sse-prot. Did you mean --sse-port?",
    );
    expect(usageError(["--sse_port", "8080", "x"])).toMatch(/Did you mean --sse-port\?/);
    expect(usageError(["--sessionTimeout", "1000", "x"])).toMatch(/Did you mean --session-timeout\?/);
    expect(usageError(["--named-servers", "a", "b"])).toMatch(/Did you mean --named-server\?/);
    expect(usageError(["--alow-origin", "*", "x"])).toMatch(/Did you mean --allow-origin\?/);
    expect(closestOption("--zzzzzzzzzzzz")).toBeUndefined();
  });
});

describe("splitCommandString", () => {
  it("splits as a POSIX shell does, without expansion", () => {
    expect(splitCommandString(`a 'b c' "d \\" e" f\\ g '' $HOME`)).toEqual([
      "a",
      "b c",
      'd " e',
      "f g",
      "",
      "$HOME",
    ]);
    expect(splitCommandString("   ")).toEqual([]);
  });
});
