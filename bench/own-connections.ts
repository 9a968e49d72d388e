// A fetch with a connection pool of its own, for one simulated agent in a load-generator process. Agents
// running on their own don't share connections. When many clients of one process share one pool, their
// tight loops keep growing it all run long: a call sent before the previous call's connection is back in the
// pool opens another. On a busy server each new connection waits its turn to be accepted (bench/README.md,
// "Agent endpoint"). With a pool of its own, a client settles on two connections during the warm-up.
import { Agent, fetch as undiciFetch } from "undici";

export function ownConnections(): typeof fetch {
  const dispatcher = new Agent();
  return ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(
      input as Parameters<typeof undiciFetch>[0],
      { ...init, dispatcher } as Parameters<typeof undiciFetch>[1],
    )) as unknown as typeof fetch;
}
