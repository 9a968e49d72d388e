// The `poke` CLI entry point (run by cli/poke.mjs through tsx). Imports no server-only modules.
import { CliError, showHelp, UsageError } from "./args";
import { login, logout, whoami } from "./login";
import { mcp } from "./mcp";

export const HELP = `Usage: poke <command> [options]

Commands:
  login            sign in to a Poke server (browser approval, or --token)
  logout           forget the stored login
  whoami           show the signed-in account
  mcp              add, list, sync and remove integrations (remote MCP servers)
  tunnel           make a local MCP server reachable by Poke through an outbound WebSocket
  proxy            bridge MCP transports: stdio → HTTP, or HTTP → stdio

Run \`poke <command> --help\` for a command's options. Docs: docs/cli.md`;

/**
 * A reader that goes away (`poke mcp list | head`) ends the CLI quietly, as closing the pipe ends any Unix
 * tool, instead of an unhandled EPIPE. Other stream errors still surface.
 */
let pipesWatched = false;
function exitWhenPipesClose(): void {
  if (pipesWatched) return;
  pipesWatched = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  exitWhenPipesClose();
  const [cmd, ...rest] = argv;
  // Messages name the program the person typed: `mcp-proxy` is `poke proxy` under mcp-proxy's name.
  const prog = /(^|[/\\])mcp-proxy(\.[cm]?js)?$/.test(process.argv[1] ?? "") ? "mcp-proxy" : "poke";
  try {
    switch (cmd) {
      case "login":
        return await login(rest);
      case "logout":
        return await logout(rest);
      case "whoami":
        return await whoami(rest);
      case "mcp":
        return await mcp(rest);
      case "tunnel":
        return await (await import("./tunnel")).tunnel(rest);
      case "proxy":
        return await (await import("./proxy")).proxy(rest);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        return showHelp(HELP);
      case "--version":
      case "-v":
        return showHelp("poke 0.1.0");
      default:
        throw new UsageError(`Unknown command "${cmd}".`, HELP);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${prog}: ${e.message}`);
      if (e.help) console.error(`\n${e.help}`);
      return 2;
    }
    if (e instanceof CliError) {
      console.error(`${prog}: ${e.message}`);
      return e.exitCode;
    }
    console.error(`${prog}: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}
