// Runs N real MCP fixture servers (test/fixtures) in their own process, so the servers' CPU is not
// spent on the event loop being measured. Prints one JSON line {"urls":[…]} when ready; exits on SIGTERM.
//   tsx bench/fixture-host.ts [--count N] [--tools basic|N] [--mode modern|sessionful]
import { parseArgs } from "node:util";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";

const { values } = parseArgs({
  options: { count: { type: "string" }, tools: { type: "string" }, mode: { type: "string" } },
});
const count = Math.min(Math.max(Number(values.count ?? 1) || 1, 1), 200);
const tools = values.tools === undefined || values.tools === "basic" ? "basic" : Number(values.tools);
const mode = values.mode === "sessionful" ? "sessionful" : "modern";

const servers: McpFixture[] = [];
const stop = async () => {
  await Promise.allSettled(servers.map((s) => s.close()));
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());

for (let i = 0; i < count; i++) servers.push(await startMcpServer({ tools, mode, name: `bench-${i}` }));
// Fixtures record every request for tests; a benchmark makes thousands, so keep the log from growing.
setInterval(() => servers.forEach((s) => ((s.requests.length = 0), (s.calls.length = 0))), 1000).unref();
process.stdout.write(`${JSON.stringify({ urls: servers.map((s) => s.url) })}\n`);
