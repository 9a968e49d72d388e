// Builds bench/fixtures/toolsearch-catalog.json: the tool definitions of published MCP servers (npm packages
// at the versions below), each started over stdio and listed once with an SDK client. Nothing is written by
// hand: change a version and re-run to refresh the fixture. The servers are installed into a scratch prefix
// (without install scripts), not into the project, so they cost `npm ci` nothing.
//
//   npx tsx bench/toolsearch-catalog.ts [--modules DIR]   (DIR: a node_modules already holding the servers)
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

type ServerSpec = {
  pkg: string;
  version: string;
  bin?: string;
  args?: (scratch: string) => string[];
  /** placeholders where a server refuses to start without a credential; listing tools sends nothing */
  env?: Record<string, string>;
};

export const SERVERS: ServerSpec[] = [
  { pkg: "@modelcontextprotocol/server-everything", version: "2026.8.31" },
  { pkg: "@modelcontextprotocol/server-filesystem", version: "2026.8.31", args: (dir) => [dir] },
  { pkg: "@modelcontextprotocol/server-memory", version: "2026.8.31" },
  {
    pkg: "@modelcontextprotocol/server-github",
    version: "2025.4.8",
    env: { GITHUB_PERSONAL_ACCESS_TOKEN: "placeholder" },
  },
  {
    pkg: "@modelcontextprotocol/server-slack",
    version: "2025.4.25",
    env: { SLACK_BOT_TOKEN: "placeholder", SLACK_TEAM_ID: "T0" },
  },
  {
    pkg: "@modelcontextprotocol/server-google-maps",
    version: "0.6.2",
    env: { GOOGLE_MAPS_API_KEY: "placeholder" },
  },
  {
    pkg: "@modelcontextprotocol/server-brave-search",
    version: "0.6.2",
    env: { BRAVE_API_KEY: "placeholder" },
  },
  { pkg: "@modelcontextprotocol/server-sequential-thinking", version: "2026.8.31" },
  { pkg: "@notionhq/notion-mcp-server", version: "2.5.2", env: { NOTION_TOKEN: "placeholder" } },
  {
    pkg: "@zereight/mcp-gitlab",
    version: "2.1.64",
    bin: "mcp-gitlab",
    env: {
      GITLAB_PERSONAL_ACCESS_TOKEN: "placeholder",
      GITLAB_API_URL: "http://127.0.0.1:1/api/v4",
      USE_GITLAB_WIKI: "true",
      USE_MILESTONE: "true",
      USE_PIPELINE: "true",
    },
  },
  { pkg: "@playwright/mcp", version: "0.0.83" },
  {
    pkg: "chrome-devtools-mcp",
    version: "1.11.0",
    bin: "chrome-devtools-mcp",
    args: () => ["--no-usage-statistics"],
  },
];

async function listServer(modules: string, spec: ServerSpec, scratch: string) {
  const require = createRequire(path.join(modules, "noop.js"));
  const pkgJson = require.resolve(`${spec.pkg}/package.json`);
  const pkg = require(pkgJson) as { version: string; bin: string | Record<string, string> };
  const binRel = typeof pkg.bin === "string" ? pkg.bin : pkg.bin[spec.bin ?? Object.keys(pkg.bin)[0]];
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(path.dirname(pkgJson), binRel), ...(spec.args?.(scratch) ?? [])],
    env: { PATH: process.env.PATH ?? "", HOME: scratch, ...spec.env },
    cwd: scratch,
    stderr: "ignore",
  });
  const client = new Client({ name: "toolsearch-catalog", version: "1.0.0" });
  await client.connect(transport);
  try {
    const tools = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : {});
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return {
      package: spec.pkg,
      version: pkg.version,
      server: client.getServerVersion()?.name ?? spec.pkg,
      instructions: client.getInstructions() ?? null,
      tools,
    };
  } finally {
    await client.close().catch(() => {});
  }
}

async function main() {
  const i = process.argv.indexOf("--modules");
  const scratch = mkdtempSync(path.join(tmpdir(), "toolsearch-"));
  let modules = i > 0 ? path.resolve(process.argv[i + 1]) : "";
  if (!modules) {
    const prefix = path.join(scratch, "servers");
    const specs = SERVERS.map((s) => `${s.pkg}@${s.version}`);
    const npm = spawnSync("npm", ["install", "--prefix", prefix, "--ignore-scripts", "--no-save", ...specs], {
      stdio: "inherit",
    });
    if (npm.status !== 0) throw new Error("npm install of the published servers failed");
    modules = path.join(prefix, "node_modules");
  }
  const servers = [];
  for (const spec of SERVERS) {
    try {
      const s = await listServer(modules, spec, scratch);
      console.log(`${spec.pkg}@${s.version}: ${s.tools.length} tools`);
      servers.push(s);
    } catch (err) {
      console.error(`${spec.pkg}: ${String(err)}`);
    }
  }
  const total = servers.reduce((n, s) => n + s.tools.length, 0);
  const out = path.join(import.meta.dirname, "fixtures", "toolsearch-catalog.json");
  writeFileSync(out, `${JSON.stringify({ servers }, null, 2)}\n`);
  // The repository's format check covers fixtures too.
  spawnSync(path.join(process.cwd(), "node_modules/.bin/prettier"), ["--write", out], { stdio: "ignore" });
  console.log(`${total} tools from ${servers.length} servers → ${path.relative(process.cwd(), out)}`);
  process.exit(0);
}

await main();
