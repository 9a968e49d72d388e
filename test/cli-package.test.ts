// The CLI on its own: `npm pack` in cli/ gives a tarball with no dependencies that installs offline into an
// empty prefix and runs `poke` and `mcp-proxy` with nothing but Node — against the real app and a real MCP
// server, from a directory outside the checkout. Also: a reader that closes the pipe early
// (`poke mcp list | head -n 1`) ends the CLI quietly, without an EPIPE crash.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDb, getDb } from "../lib/db";
import { createApiToken } from "../lib/data/api-tokens";
import { signUp } from "../lib/data/users";
import { startMcpServer, type McpFixture } from "./fixtures/mcp-servers";
import { PASSWORD, ROOT, spawnApp, tempConfigHome, type CliResult } from "./cli-helpers";

const ROWS = 40;
/** Each listed integration's URL is about 2 KB, so the listing is larger than a pipe's buffer (64 KB). */
const LONG_PATH = `/${"x".repeat(2000)}`;

let dir: string;
let tarball: string;
let bin: string;
let app: { url: string; stop(): Promise<void> };
let token: string;
let server: McpFixture;

/** Only Node on the PATH, a throw-away home, and a working directory outside the checkout. */
function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  const home = tempConfigHome();
  return {
    PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: home,
    XDG_CONFIG_HOME: home,
    POKE_NO_BROWSER: "1",
    ...extra,
  };
}

function run(cmd: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: dir,
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout: out, stderr: err }));
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "poke-cli-pkg-"));
  // `npm pack` builds the bundle first (prepack).
  const packed = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: path.join(ROOT, "cli"),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  tarball = path.join(dir, (JSON.parse(packed) as { filename: string }[])[0].filename);
  // Offline, with an empty cache: anything the package depended on could not be fetched.
  execFileSync(
    "npm",
    ["install", "-g", "--prefix", path.join(dir, "prefix"), "--offline", "--no-audit", "--no-fund", tarball],
    { cwd: dir, env: { ...process.env, npm_config_cache: path.join(dir, "npm-cache") }, stdio: "pipe" },
  );
  bin = path.join(dir, "prefix", "bin");

  // PGlite is single-process: the user and its integrations are seeded before the app starts.
  const email = `packaged-${Math.random().toString(36).slice(2, 8)}@cli.test`;
  const user = await signUp({ email, password: PASSWORD, name: "packaged" });
  ({ token } = await createApiToken(user, { name: "test", expiresInDays: undefined }));
  const db = await getDb();
  await db.integration.createMany({
    data: Array.from({ length: ROWS }, (_, i) => ({
      userId: user.id,
      name: `listed-${i}`,
      url: `https://mcp${i}.example.com${LONG_PATH}`,
      authKind: "none" as const,
    })),
  });
  await closeDb();
  app = await spawnApp();
  server = await startMcpServer({ mode: "sessionful" });
});

afterAll(async () => {
  await server?.close();
  await app?.stop();
});

describe("the CLI package", () => {
  it("has no dependencies and ships only the bundle", () => {
    const manifest = JSON.parse(
      execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" }),
    ) as Record<string, unknown>;
    expect(manifest.bin).toEqual({ poke: "dist/poke.mjs", "mcp-proxy": "dist/mcp-proxy.mjs" });
    for (const key of ["dependencies", "peerDependencies", "optionalDependencies", "bundleDependencies"])
      expect(manifest[key], key).toBeUndefined();
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n");
    expect(
      files.every((f) => /^package\/(package\.json|dist\/[\w./-]+\.mjs)$/.test(f)),
      files.join(),
    ).toBe(true);
    expect(fs.existsSync(path.join(dir, "prefix", "lib", "node_modules", "poke-cli", "node_modules"))).toBe(
      false,
    );
  });

  it("runs `poke` and `mcp-proxy --help` with only Node", async () => {
    const help = await run(path.join(bin, "poke"), ["--help"], bareEnv());
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toMatch(/^Usage: poke <command>/);
    const proxyHelp = await run(path.join(bin, "mcp-proxy"), ["--help"], bareEnv());
    expect(proxyHelp).toMatchObject({ code: 0, stderr: "" });
    expect(proxyHelp.stdout).toMatch(/--api-access-token/);

    const env = bareEnv();
    const login = await run(path.join(bin, "poke"), ["login", "--url", app.url, "--token", token], env);
    expect(login.code, login.stderr).toBe(0);
    const list = await run(path.join(bin, "poke"), ["mcp", "list"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split("\n").filter((l) => l.startsWith("listed-"))).toHaveLength(ROWS);
  });

  it("`mcp-proxy <url>` bridges stdio to a Streamable HTTP server", async () => {
    const client = new Client(
      { name: "pkg-test", version: "1.0.0" },
      { versionNegotiation: { mode: "auto" } },
    );
    await client.connect(
      new StdioClientTransport({
        command: path.join(bin, "mcp-proxy"),
        args: [server.url],
        env: bareEnv(),
        cwd: dir,
      }),
    );
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain("echo");
      const r = (await client.callTool({ name: "echo", arguments: { text: "packaged" } })) as {
        content: { text: string }[];
      };
      expect(r.content[0].text).toBe("packaged");
    } finally {
      await client.close();
    }
    expect(server.calls.some((c) => c.name === "echo")).toBe(true);
  });

  it("`poke mcp list | head -n 1` ends quietly when head stops reading", async () => {
    const env = bareEnv({ POKE_URL: app.url, POKE_TOKEN: token, POKE: path.join(bin, "poke") });
    const err = path.join(dir, "pipe-stderr.txt");
    // pipefail: the pipeline's status is poke's own when poke fails.
    const r = await run("bash", ["-c", `set -o pipefail; "$POKE" mcp list 2>"${err}" | head -n 1`], env);
    expect(r.stdout).toMatch(/^NAME\s+STATUS\s+TOOLS\s+URL\n$/);
    const stderr = fs.readFileSync(err, "utf8");
    expect(stderr).not.toMatch(/EPIPE|Unhandled|Error/);
    expect(r.code, stderr).toBe(0);
  });

  it("a running `poke tunnel` whose reader went away ends quietly at its next line", async () => {
    const env = bareEnv({ POKE_URL: app.url, POKE_TOKEN: token, POKE_TUNNEL_HEARTBEAT_MS: "1000" });
    const child = spawn(path.join(bin, "poke"), ["tunnel", server.url, "-n", "piped"], {
      cwd: dir,
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      let out = "";
      await new Promise<void>((resolve) =>
        child.stdout.on("data", (d) => {
          out += d;
          if (/Tunnel online/.test(out)) resolve();
        }),
      );
      // The reader closes its end, as `head` does once it has enough.
      child.stdout.destroy();
      // A tool call through the tunnel makes the CLI log one more line, into the closed pipe (the call
      // itself may or may not be answered before the CLI ends).
      const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const list = (await (await fetch(`${app.url}/api/v1/integrations`, { headers: auth })).json()) as {
        integrations: { id: string; name: string }[];
      };
      const id = list.integrations.find((i) => i.name === "piped")!.id;
      const call = await fetch(`${app.url}/api/v1/integrations/${id}/tools/echo/call`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ arguments: { text: "into a closed pipe" } }),
      });
      await call.body?.cancel();
      expect(await exited, stderr).toBe(0);
      expect(stderr).not.toMatch(/EPIPE|Unhandled|Error/);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
