// poke mcp add | list | sync | remove — integrations through the app's /api/v1 API.
import { CliError, commonOptions, parse, showHelp, UsageError } from "./args";
import { api, ApiFailure } from "./api";
import { resolveAuth, type Credentials } from "./config";

export const MCP_HELP = `Usage: poke mcp <command> [options]

Commands:
  add <url> -n <name> [-k <api-key>]   add a remote MCP server, connect and list its tools
  list                                 your integrations with status and tool counts
  sync <name|id>                       re-list a server's tools and print what changed
  remove <name|id>                     delete an integration and its tools

Common options: --url URL (Poke server), --json (machine-readable output), -h/--help.
Exit codes: 0 ok, 1 connection or API error, 2 usage error.`;

const ADD_HELP = `Usage: poke mcp add <url> -n <name> [-k <api-key>] [--url POKE_URL] [--json]

Adds the MCP server at <url> as the integration <name>, connects, and prints the tools it
offers — or the exact connection error, or the link to authorize it when it needs OAuth.

Example:
  poke mcp add https://mcp.example.com/mcp -n example -k sk_live_123`;
const LIST_HELP = `Usage: poke mcp list [--url POKE_URL] [--json]`;
const SYNC_HELP = `Usage: poke mcp sync <name|id> [--url POKE_URL] [--json]

Re-lists the server's tools and prints the diff (added, removed, changed).`;
const REMOVE_HELP = `Usage: poke mcp remove <name|id> [--url POKE_URL]`;

type Integration = {
  id: string;
  name: string;
  url: string;
  status: string;
  lastError: string | null;
  toolCount?: number;
  serverName?: string | null;
  serverVersion?: string | null;
};
type Diff = { added: string[]; removed: string[]; changed: string[]; unchanged: number; toolCount: number };
type ConnectResult = { integration: Integration; diff?: Diff; error?: { code: string; message: string } };

export async function mcp(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "add":
      return add(rest);
    case "list":
    case "ls":
      return list(rest);
    case "sync":
      return sync(rest);
    case "remove":
    case "rm":
      return remove(rest);
    case undefined:
    case "-h":
    case "--help":
    case "help":
      return showHelp(MCP_HELP);
    default:
      throw new UsageError(`Unknown command "mcp ${sub}".`, MCP_HELP);
  }
}

function printDiff(d: Diff) {
  const parts = [`${d.toolCount} tool${d.toolCount === 1 ? "" : "s"}`];
  if (d.added.length) parts.push(`added: ${d.added.join(", ")}`);
  if (d.removed.length) parts.push(`removed: ${d.removed.join(", ")}`);
  if (d.changed.length) parts.push(`changed: ${d.changed.join(", ")}`);
  if (!d.added.length && !d.removed.length && !d.changed.length) parts.push("no changes");
  console.log(`  ${parts.join(" · ")}`);
}

async function add(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...commonOptions, name: { type: "string", short: "n" }, "api-key": { type: "string", short: "k" } },
    ADD_HELP,
  );
  if (values.help) return showHelp(ADD_HELP);
  if (positionals.length !== 1) throw new UsageError("Give exactly one server URL.", ADD_HELP);
  if (!values.name) throw new UsageError("Name the integration with -n <name>.", ADD_HELP);
  const auth = resolveAuth(values.url);
  const r = await api<ConnectResult>(auth, "POST", "/api/v1/integrations", {
    name: values.name,
    url: positionals[0],
    ...(values["api-key"] ? { apiKey: values["api-key"] } : {}),
  });
  if (values.json) console.log(JSON.stringify(r));
  return reportConnect(auth, r, !!values.json);
}

/** Prints a connect outcome; exit 0 when connected or waiting for the person's OAuth consent. */
function reportConnect(auth: Credentials, r: ConnectResult, quiet: boolean): number {
  const i = r.integration;
  if (r.error?.code === "needs_auth") {
    if (!quiet) {
      console.log(`Added "${i.name}". The server needs authorization (OAuth).`);
      console.log(`Open ${auth.url}/integrations/${i.id} and click Authorize to grant access.`);
    }
    return 0;
  }
  if (r.error) {
    if (!quiet) {
      console.error(`Added "${i.name}" but could not connect: ${r.error.message}`);
      console.error(
        `Fix it and run \`poke mcp sync ${i.name}\`, or remove it with \`poke mcp remove ${i.name}\`.`,
      );
    }
    return 1;
  }
  if (!quiet) {
    const server = i.serverName ? ` (${i.serverName}${i.serverVersion ? ` ${i.serverVersion}` : ""})` : "";
    console.log(`Connected "${i.name}"${server}.`);
    if (r.diff) printDiff(r.diff);
  }
  return 0;
}

async function listAll(auth: Credentials): Promise<Integration[]> {
  return (await api<{ integrations: Integration[] }>(auth, "GET", "/api/v1/integrations")).integrations;
}

/** Names are resolved client-side (exact name first, then id). */
async function resolve(auth: Credentials, ref: string): Promise<Integration> {
  const all = await listAll(auth);
  const hit = all.find((i) => i.name === ref) ?? all.find((i) => i.id === ref);
  if (!hit) throw new CliError(`No integration named or with id "${ref}". See \`poke mcp list\`.`);
  return hit;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, commonOptions, LIST_HELP, false);
  if (values.help) return showHelp(LIST_HELP);
  const all = await listAll(resolveAuth(values.url));
  if (values.json) {
    console.log(JSON.stringify(all));
    return 0;
  }
  if (!all.length) {
    console.log("No integrations yet. Add one with `poke mcp add <url> -n <name>`.");
    return 0;
  }
  const rows = all.map((i) => [i.name, i.status, String(i.toolCount ?? ""), i.url]);
  const head = ["NAME", "STATUS", "TOOLS", "URL"];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  for (const r of [head, ...rows]) console.log(r.map((v, c) => (c < 3 ? v.padEnd(w[c]) : v)).join("  "));
  return 0;
}

async function sync(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, commonOptions, SYNC_HELP);
  if (values.help) return showHelp(SYNC_HELP);
  if (positionals.length !== 1) throw new UsageError("Give one integration name or id.", SYNC_HELP);
  const auth = resolveAuth(values.url);
  const i = await resolve(auth, positionals[0]);
  try {
    const diff = await api<Diff>(auth, "POST", `/api/v1/integrations/${encodeURIComponent(i.id)}/sync`);
    if (values.json) console.log(JSON.stringify(diff));
    else {
      console.log(`Synced "${i.name}".`);
      printDiff(diff);
    }
    return 0;
  } catch (e) {
    if (e instanceof ApiFailure && e.error.code === "needs_auth") {
      throw new CliError(`${e.message}\nOpen ${auth.url}/integrations/${i.id} and click Authorize.`);
    }
    throw e;
  }
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, commonOptions, REMOVE_HELP);
  if (values.help) return showHelp(REMOVE_HELP);
  if (positionals.length !== 1) throw new UsageError("Give one integration name or id.", REMOVE_HELP);
  const auth = resolveAuth(values.url);
  const i = await resolve(auth, positionals[0]);
  await api(auth, "DELETE", `/api/v1/integrations/${encodeURIComponent(i.id)}`);
  console.log(`Removed "${i.name}".`);
  return 0;
}
