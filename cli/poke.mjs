#!/usr/bin/env node
// `poke` in a checkout (`npx poke …`, `npm link`); cli/mcp-proxy.mjs imports it as `mcp-proxy`. Runs the bundle (cli/dist, built by `npm install` and
// `npm run build:cli`) when it is at least as new as every source it was built from — it starts several
// times faster — and otherwise the TypeScript source through tsx in this process (no second process, so
// signals and exit codes are the CLI's own), so an edited source is never shadowed by a stale bundle.
import fs from "node:fs";
import path from "node:path";

const root = new URL("../", import.meta.url);
const bundle = new URL("cli/dist/poke.mjs", root);

function bundleIsCurrent() {
  try {
    const built = fs.statSync(bundle).mtimeMs;
    const { inputs } = JSON.parse(fs.readFileSync(new URL("cli/dist/inputs.json", root), "utf8"));
    return inputs.every((p) => fs.statSync(new URL(p, root)).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (bundleIsCurrent()) {
  await import(bundle.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import("./main.ts");
  const argv = process.argv.slice(2);
  const invokedAs = path.basename(process.argv[1] ?? "").replace(/\.[cm]?js$/, "");
  process.exitCode = await main(invokedAs === "mcp-proxy" ? ["proxy", ...argv] : argv);
}
