#!/usr/bin/env node
// Bundles the CLI into cli/dist/: poke.mjs (an ES module that needs only Node) and the chunks it loads on
// first use (the MCP SDK, ws and zod, for `tunnel` and `proxy`), so `--help` reads about 10 KB of code.
// cli/dist/mcp-proxy.mjs starts the same bundle as `mcp-proxy`. cli/dist/inputs.json lists the project
// sources it was built from, so cli/poke.mjs can tell whether it is current. Run by `npm run build:cli`,
// `npm install` (postinstall) and `npm pack` in cli/.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const cli = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(cli);
const dist = path.join(cli, "dist");
// Built beside dist/ and swapped in at the end, so a CLI starting meanwhile never sees half a bundle.
const out = `${dist}.tmp-${process.pid}`;

fs.rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [path.join(cli, "bin.ts")],
  outdir: out,
  entryNames: "poke",
  chunkNames: "chunks/[name]-[hash]",
  splitting: true,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  metafile: true,
  legalComments: "none",
  minify: true,
  logLevel: "warning",
  alias: { "@": root },
  // CommonJS dependencies (ws) call require() for Node's own modules: give the ES module one.
  banner: {
    js: [
      "#!/usr/bin/env node",
      'import { createRequire as __pokeCreateRequire } from "node:module";',
      "const require = __pokeCreateRequire(import.meta.url);",
    ].join("\n"),
  },
});
fs.writeFileSync(
  path.join(out, "mcp-proxy.mjs"),
  '#!/usr/bin/env node\n// `mcp-proxy`: the bundled CLI started under this name (see poke.mjs).\nimport "./poke.mjs";\n',
);
for (const f of ["poke.mjs", "mcp-proxy.mjs"]) fs.chmodSync(path.join(out, f), 0o755);
const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes("node_modules"));
fs.writeFileSync(path.join(out, "inputs.json"), JSON.stringify({ inputs }, null, 2) + "\n");
const old = `${dist}.old-${process.pid}`;
if (fs.existsSync(dist)) fs.renameSync(dist, old);
fs.renameSync(out, dist);
fs.rmSync(old, { recursive: true, force: true });
