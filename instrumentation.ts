// Runs once when the Next.js server boots — under `next start` and under our custom server.ts alike
// (next({ dev: false }).prepare() loads it). Installs the `poke tunnel` WebSocket endpoint from inside the
// Next.js bundle, so it shares the bundle's modules (database client, MCP pool) with the route handlers;
// server.ts reaches it through the process state (lib/state.ts `upgrades`), and its `shutdown` closes it.
// Verified under server.ts (next({ dev: false })): NextNodeServer.prepare() runs register() before the first
// request. Next also attaches its own upgrade listener after the first request and ends upgrades whose
// path matches an app route — so /api/tunnel/connect deliberately has no route file.
export async function register() {
  // NEXT_RUNTIME is inlined by Next at build time (not configuration): skip the edge runtime.
  // eslint-disable-next-line no-restricted-properties
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { installTunnelEndpoint } = await import("@/lib/tunnel/server");
  installTunnelEndpoint();
}
