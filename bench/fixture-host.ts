// Runs N real MCP fixture servers (test/fixtures) in their own process, so the servers' CPU is not
// spent on the event loop being measured. Prints one JSON line {"urls":[…]} when ready; exits on SIGTERM.
//   tsx bench/fixture-host.ts [--count N] [--tools basic|N] [--mode modern|sessionful] [--rtt-ms MS]
// --rtt-ms puts each server behind a TCP relay that models a network round trip: bytes cross it half the
// round trip later in each direction, and a new connection waits one round trip (the handshake) before
// its first bytes flow. Whoever connects through it — the platform or the direct SDK client — pays the same.
import net from "node:net";
import { parseArgs } from "node:util";
import { startMcpServer, type McpFixture } from "../test/fixtures/mcp-servers";

const { values } = parseArgs({
  options: {
    count: { type: "string" },
    tools: { type: "string" },
    mode: { type: "string" },
    "rtt-ms": { type: "string" },
  },
});
const count = Math.min(Math.max(Number(values.count ?? 1) || 1, 1), 200);
const tools = values.tools === undefined || values.tools === "basic" ? "basic" : Number(values.tools);
const mode = values.mode === "sessionful" ? "sessionful" : "modern";
const rttMs = Math.min(Math.max(Number(values["rtt-ms"] ?? 0) || 0, 0), 1000);

/** A relay in front of `target` that delays every byte by half the round trip (see the top). */
function withLatency(target: string): Promise<string> {
  const url = new URL(target);
  const [port, host] = [Number(url.port), url.hostname];
  const half = rttMs / 2;
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, host);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pause(); // the handshake's round trip
    setTimeout(() => client.resume(), rttMs);
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on("data", (d) => setTimeout(() => to.writable && to.write(d), half));
      from.on("end", () => setTimeout(() => to.end(), half));
      from.on("error", () => to.destroy());
      from.on("close", () => setTimeout(() => to.destroy(), half));
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  relays.push(relay);
  return new Promise((resolve) =>
    relay.listen(0, "127.0.0.1", () => {
      url.port = String((relay.address() as net.AddressInfo).port);
      resolve(url.href);
    }),
  );
}
const relays: net.Server[] = [];

const servers: McpFixture[] = [];
const stop = async () => {
  relays.forEach((r) => r.close());
  await Promise.allSettled(servers.map((s) => s.close()));
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());

for (let i = 0; i < count; i++) servers.push(await startMcpServer({ tools, mode, name: `bench-${i}` }));
// Fixtures record every request for tests; a benchmark makes thousands, so keep the log from growing.
setInterval(() => servers.forEach((s) => ((s.requests.length = 0), (s.calls.length = 0))), 1000).unref();
const urls = rttMs ? await Promise.all(servers.map((s) => withLatency(s.url))) : servers.map((s) => s.url);
process.stdout.write(`${JSON.stringify({ urls })}\n`);
