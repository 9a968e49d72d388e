// "A toolset changed" events (edited, renamed, deleted): the agent endpoint drops what it cached for the toolset
// and tells the toolset's connected clients (notifications/tools/list_changed). Dependency-free like
// lib/agent/events.ts, so lib/data/toolsets.ts can publish without import cycles; crosses instances through
// Redis like those (docs/deploy.md).
import { clusterEvent } from "@/lib/agent/relay";

export type ToolsetChange = { userId: string; toolsetId: string; deleted: boolean };

const toolsetChanged = clusterEvent<ToolsetChange>("toolset-changed", (v) => {
  const c = v as Partial<ToolsetChange> | null;
  return c &&
    typeof c.userId === "string" &&
    typeof c.toolsetId === "string" &&
    typeof c.deleted === "boolean"
    ? { userId: c.userId, toolsetId: c.toolsetId, deleted: c.deleted }
    : undefined;
});

export const emitToolsetChanged = (change: ToolsetChange) => toolsetChanged.emit(change);

/** Registers a listener; returns its unsubscribe function. */
export const onToolsetChanged = (listener: (change: ToolsetChange) => void) => toolsetChanged.on(listener);
