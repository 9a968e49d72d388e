// Argument parsing on node:util parseArgs, with usage errors that exit 2 and `--help` everywhere.
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure already explained to the user; carries the exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export const commonOptions = {
  help: { type: "boolean", short: "h" },
  url: { type: "string" },
  json: { type: "boolean" },
} as const satisfies Options;

export function parse<O extends Options>(argv: string[], options: O, help: string, allowPositionals = true) {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return r;
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ""), help);
  }
}

/** Splits `a b -- c d` into the part before `--` and the command after it. */
export function splitCommand(argv: string[]): { own: string[]; command: string[] } {
  const i = argv.indexOf("--");
  return i < 0 ? { own: argv, command: [] } : { own: argv.slice(0, i), command: argv.slice(i + 1) };
}

/** --env KEY=VALUE (repeatable) → record. */
export function parseEnvPairs(pairs: string[] | undefined, help: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf("=");
    if (i <= 0) throw new UsageError(`--env expects KEY=VALUE, got "${p}"`, help);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

export function showHelp(text: string): number {
  console.log(text);
  return 0;
}
