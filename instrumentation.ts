// Runs once when the Next.js server boots — under `next start` and under our custom server.ts alike
// (next({ dev: false }).prepare() loads it). Installs the `poke tunnel` WebSocket endpoint: server.ts
// forwards HTTP upgrades to globalThis.__pokeUpgrade, which this sets from inside the Next.js bundle so
// the endpoint shares the bundle's modules (database client, MCP pool) with the route handlers.
export async function register() {
  // NEXT_RUNTIME is inlined by Next at build time (not configuration): skip the edge runtime.
  // eslint-disable-next-line no-restricted-properties
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { installTunnelEndpoint } = await import("@/lib/tunnel/server");
  installTunnelEndpoint();
}
