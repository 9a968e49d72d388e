#!/usr/bin/env node
// The client command the conformance suite's runner starts for each scenario when scripts/conformance.mjs
// runs it: hands the scenario (server URL, MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT) to the host
// started with `scripts/conformance-client.ts --serve SOCKET` (CONFORMANCE_HOST_SOCKET), writes the host's
// output for that scenario to stderr and exits with its code. See the header of scripts/conformance-client.ts.
import net from "node:net";

const socketPath = process.env.CONFORMANCE_HOST_SOCKET;
const serverUrl = process.argv.at(-1);
if (!socketPath || !serverUrl || !/^https?:\/\//.test(serverUrl)) {
  console.error("[poke-conformance] usage: CONFORMANCE_HOST_SOCKET=… conformance-relay.mjs <server-url>");
  process.exit(2);
}

let exit;
let step = "waiting for the host";
const sock = net.connect(socketPath);
process.once("SIGTERM", () => {
  console.error(`[poke-conformance] stopped by the runner (last: ${step})`);
  sock.destroy();
  process.exit(1);
});
sock.setEncoding("utf8");
sock.on("connect", () => {
  sock.write(
    JSON.stringify({
      serverUrl,
      name: process.env.MCP_CONFORMANCE_SCENARIO ?? "",
      context: process.env.MCP_CONFORMANCE_CONTEXT,
    }) + "\n",
  );
});
let buf = "";
sock.on("data", (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const msg = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    if (typeof msg.line === "string") {
      console.error(msg.line);
      step = msg.line;
    }
    if (typeof msg.exit === "number") exit = msg.exit;
  }
});
sock.on("error", (err) => console.error(`[poke-conformance] the conformance host: ${err.message}`));
sock.on("close", () => process.exit(exit ?? 1));
