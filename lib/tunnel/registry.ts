// Live tunnels of THIS process, by tunnel id. Kept in the process state (lib/state.ts): the WebSocket endpoint
// is installed from the instrumentation bundle while route handlers (which reach tunnels through the MCP
// engine) live in other bundles, each with its own module instances.
// With several instances each holds its own sockets here; lib/tunnel/cluster.ts finds the others' in Redis.
import { processState } from "@/lib/state";
import type { HeaderList } from "@/lib/tunnel/protocol";

export type TunnelRequest = {
  method: string;
  /** Absolute local URL (inside the tunnel's target). */
  url: URL;
  headers: HeaderList;
  body: string | Uint8Array | ReadableStream<Uint8Array> | null;
  signal?: AbortSignal;
};

export type TunnelResponse = { status: number; headers: HeaderList; body: ReadableStream<Uint8Array> };

export type LiveTunnel = {
  tunnelId: string;
  userId: string;
  integrationId: string;
  name: string;
  /** The one local URL the CLI forwards to. */
  target: URL;
  /** Random per connection: tells a stale close apart from the current connection's. */
  connectionId: string;
  request(req: TunnelRequest): Promise<TunnelResponse>;
  close(code: number, reason: string): void;
};

const registry = processState("tunnels", () => new Map<string, LiveTunnel>());

export function liveTunnel(tunnelId: string): LiveTunnel | undefined {
  return registry.get(tunnelId);
}

/** Registers a connection, returning the one it replaces (if any). */
export function registerTunnel(t: LiveTunnel): LiveTunnel | undefined {
  const prev = registry.get(t.tunnelId);
  registry.set(t.tunnelId, t);
  return prev;
}

/** Unregisters only if `connectionId` is still the registered connection. Returns whether it was. */
export function unregisterTunnel(tunnelId: string, connectionId: string): boolean {
  if (registry.get(tunnelId)?.connectionId !== connectionId) return false;
  registry.delete(tunnelId);
  return true;
}

export function liveTunnels(): LiveTunnel[] {
  return [...registry.values()];
}
