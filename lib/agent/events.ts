// "A user's tools changed" events: the sync path (and a toggle, rename or delete) publishes, the agent endpoint
// forwards them to its connected clients as notifications/tools/list_changed. Dependency-free of the agent
// modules so lib/mcp/sync.ts can import it without cycles; in the process state so every Next.js bundle and the
// custom server share one set of listeners.
//
// With REDIS_URL the event also goes to every other instance (docs/deploy.md): published on Redis, and each
// instance's subscriber feeds its own listeners. The publishing instance delivers to its own listeners at once
// and ignores its own message when it comes back, so nothing is delivered twice.
import { log } from "@/lib/log";
import { relayed } from "@/lib/agent/relay";
import { processState } from "@/lib/state";

type Listener = (userId: string) => void;

const listeners = processState("agentEvents", () => new Set<Listener>());

function deliver(userId: string): void {
  for (const listener of listeners) {
    try {
      listener(userId);
    } catch (err) {
      // A broken listener must not break the sync that published the event.
      log.error("tools-changed listener failed", err);
    }
  }
}

const relay = relayed<string>("tools-changed", deliver, (v) => (typeof v === "string" ? v : undefined));

export function emitToolsChanged(userId: string): void {
  deliver(userId);
  relay.publish(userId);
}

/** Registers a listener; returns its unsubscribe function. */
export function onToolsChanged(listener: Listener): () => void {
  listeners.add(listener);
  relay.listen();
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
