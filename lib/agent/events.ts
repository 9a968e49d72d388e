// In-process "a user's tools changed" events: the sync path publishes, the agent endpoint forwards them to its
// connected clients as notifications/tools/list_changed. Dependency-free so lib/mcp/sync.ts can import it
// without cycles; in the process state so every Next.js bundle and the custom server share one set of listeners.
// Per process: with several app instances, clients connected to another instance learn about the change on
// their next tools/list (or when that instance syncs); a PostgreSQL LISTEN/NOTIFY relay would close the gap.

import { log } from "@/lib/log";
import { processState } from "@/lib/state";

type Listener = (userId: string) => void;

const listeners = processState("agentEvents", () => new Set<Listener>());

export function emitToolsChanged(userId: string): void {
  for (const listener of listeners) {
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
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

type DiffLike = { added: string[]; removed: string[]; changed: string[] };

/** For the sync path: `.then(afterSync(userId))` publishes when the stored catalog actually changed. */
export function afterSync<D extends DiffLike>(userId: string): (diff: D) => D {
  return (diff) => {
    if (diff.added.length || diff.removed.length || diff.changed.length) emitToolsChanged(userId);
    return diff;
  };
}
