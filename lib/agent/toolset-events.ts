// In-process "a toolset changed" events (edited, renamed, deleted): the agent endpoint drops what it cached for
// the toolset and tells the toolset's connected clients (notifications/tools/list_changed). Dependency-free like
// lib/agent/events.ts, so lib/data/toolsets.ts can publish without import cycles; per process, like those.
import { log } from "@/lib/log";
import { processState } from "@/lib/state";

export type ToolsetChange = { userId: string; toolsetId: string; deleted: boolean };
type Listener = (change: ToolsetChange) => void;

const listeners = processState("toolsetEvents", () => new Set<Listener>());

export function emitToolsetChanged(change: ToolsetChange): void {
  for (const listener of listeners) {
    try {
      listener(change);
    } catch (err) {
      log.error("toolset-changed listener failed", err);
    }
  }
}

/** Registers a listener; returns its unsubscribe function. */
export function onToolsetChanged(listener: Listener): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}
