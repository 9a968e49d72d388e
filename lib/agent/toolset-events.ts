// "A toolset changed" events (edited, renamed, deleted): the agent endpoint drops what it cached for the toolset
// and tells the toolset's connected clients (notifications/tools/list_changed). Dependency-free like
// lib/agent/events.ts, so lib/data/toolsets.ts can publish without import cycles; crosses instances through
// Redis like those (docs/deploy.md).
import { relayed } from "@/lib/agent/relay";
import { log } from "@/lib/log";
import { processState } from "@/lib/state";

export type ToolsetChange = { userId: string; toolsetId: string; deleted: boolean };
type Listener = (change: ToolsetChange) => void;

const listeners = processState("toolsetEvents", () => new Set<Listener>());

function deliver(change: ToolsetChange): void {
  for (const listener of listeners) {
    try {
      listener(change);
    } catch (err) {
      log.error("toolset-changed listener failed", err);
    }
  }
}

const relay = relayed<ToolsetChange>("toolset-changed", deliver, (v) => {
  const c = v as Partial<ToolsetChange> | null;
  return c &&
    typeof c.userId === "string" &&
    typeof c.toolsetId === "string" &&
    typeof c.deleted === "boolean"
    ? { userId: c.userId, toolsetId: c.toolsetId, deleted: c.deleted }
    : undefined;
});

export function emitToolsetChanged(change: ToolsetChange): void {
  deliver(change);
  relay.publish(change);
}

/** Registers a listener; returns its unsubscribe function. */
export function onToolsetChanged(listener: Listener): () => void {
  listeners.add(listener);
  relay.listen();
  return () => void listeners.delete(listener);
}
