// Entry point of the bundled CLI (cli/build.mjs → cli/dist/poke.mjs, Node only, no dependencies). The
// program is picked by the name it was started as: `mcp-proxy` (dist/mcp-proxy.mjs, or a link of that
// name) is `poke proxy`; anything else is `poke`.
import path from "node:path";
import { main } from "./main";

const invokedAs = path.basename(process.argv[1] ?? "").replace(/\.[cm]?js$/, "");
const argv = process.argv.slice(2);
process.exitCode = await (invokedAs === "mcp-proxy" ? main(["proxy", ...argv]) : main(argv));
