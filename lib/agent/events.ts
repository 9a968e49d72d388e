// "A user's tools changed" events: the sync path (and a toggle, rename or delete) publishes, the agent endpoint
// forwards them to its connected clients as notifications/tools/list_changed. Dependency-free of the agent
// modules so lib/mcp/sync.ts can import it without cycles; in the process state so every Next.js bundle and the
// custom server share one set of listeners.
//
// With REDIS_URL the event also goes to every other instance (docs/deploy.md): published on Redis, and each
// instance's subscriber feeds its own listeners. The publishing instance delivers to its own listeners at once
// and ignores its own message when it comes back, so nothing is delivered twice.
import { clusterEvent } from "@/lib/agent/relay";

const toolsChanged = clusterEvent<string>("tools-changed", (v) => (typeof v === "string" ? v : undefined));

export const emitToolsChanged = (userId: string) => toolsChanged.emit(userId);

/** Registers a listener; returns its unsubscribe function. */
export const onToolsChanged = (listener: (userId: string) => void) => toolsChanged.on(listener);

type DiffLike = { added: string[]; removed: string[]; changed: string[] };
type SyncDiffLike = DiffLike & { resources?: DiffLike; resourceTemplates?: DiffLike; prompts?: DiffLike };

const moved = (d?: DiffLike) => !!d && (d.added.length > 0 || d.removed.length > 0 || d.changed.length > 0);

/**
 * For the sync path: `.then(afterSync(userId))` publishes when the stored catalog actually changed: tools,
 * and resources (with their templates) and prompts each on their own event.
 */
export function afterSync<D extends SyncDiffLike>(userId: string): (diff: D) => D {
  return (diff) => {
    if (moved(diff)) emitToolsChanged(userId);
    const kinds: ListKind[] = [];
    if (moved(diff.resources) || moved(diff.resourceTemplates)) kinds.push("resources");
    if (moved(diff.prompts)) kinds.push("prompts");
    if (kinds.length) emitListsChanged({ userId, kinds });
    return diff;
  };
}

// "A user's resources or prompts changed": the agent endpoint sends notifications/resources/list_changed or
// notifications/prompts/list_changed to its clients. Relayed across instances like tools-changed.

export type ListKind = "resources" | "prompts";
export type ListsChange = { userId: string; kinds: ListKind[] };

const listsChanged = clusterEvent<ListsChange>("lists-changed", (v) => {
  const c = v as Partial<ListsChange> | null;
  if (!c || typeof c.userId !== "string" || !Array.isArray(c.kinds)) return undefined;
  const kinds = c.kinds.filter((k): k is ListKind => k === "resources" || k === "prompts");
  return kinds.length ? { userId: c.userId, kinds } : undefined;
});

export const emitListsChanged = (change: ListsChange) => listsChanged.emit(change);

/** Registers a listener for resource and prompt list changes; returns its unsubscribe function. */
export const onListsChanged = (listener: (change: ListsChange) => void) => listsChanged.on(listener);
