// In-process "a user's tools changed" events: the sync path publishes, the agent endpoint forwards them to its
// connected clients as notifications/tools/list_changed. Dependency-free so lib/mcp/sync.ts can import it
// without cycles; on globalThis so every Next.js bundle and the custom server share one set of listeners.
// Per process: with several app instances, clients connected to another instance learn about the change on
// their next tools/list (or when that instance syncs); a PostgreSQL LISTEN/NOTIFY relay would close the gap.

import { log } from "@/lib/log";

type Listener = (userId: string) => void;
type Bus = { listeners: Set<Listener> };

const bus: Bus = ((globalThis as { __pokeAgentEvents?: Bus }).__pokeAgentEvents ??= { listeners: new Set() });

export function emitToolsChanged(userId: string): void {
  for (const listener of bus.listeners) {
    try {
      listener(userId);
    } catch (err) {
      // A broken listener must not break the sync that published the event.
      log.error("tools-changed listener failed", err);
    }
  }
}

/** Registers a listener; returns its unsubscribe function. */
export function onToolsChanged(listener: Listener): () => void {
  bus.listeners.add(listener);
  return () => void bus.listeners.delete(listener);
}

type DiffLike = { added: string[]; removed: string[]; changed: string[] };

/** For the sync path: `.then(afterSync(userId))` publishes when the stored catalog actually changed. */
export function afterSync<D extends DiffLike>(userId: string): (diff: D) => D {
  return (diff) => {
    if (diff.added.length || diff.removed.length || diff.changed.length) emitToolsChanged(userId);
    return diff;
  };
}
