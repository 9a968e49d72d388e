#!/usr/bin/env node
// `poke` launcher: registers tsx in this process (no second process, so signals and exit codes are the
// CLI's own) and runs the TypeScript entry point. Works through `npx poke …` in a checkout and `npm link`.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
