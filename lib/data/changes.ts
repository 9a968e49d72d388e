// "Integration rows changed": every write of the data layer to an integration or its tools announces it once
// committed, and the caches built from those rows (call plans, the agent endpoint's catalog) drop what it
// covers. With REDIS_URL the announcement also reaches every other instance (lib/agent/relay.ts).
//
// How long such a cache may live follows from who can miss a change: on the embedded database only this
// process writes, and with Redis every instance hears every change, so entries live a minute (a bound on a
// missed pub/sub message); several instances on PostgreSQL without Redis hear only their own writes, so there
// entries live two seconds (docs/deploy.md).
import { clusterEvent } from "@/lib/agent/relay";
import { env } from "@/lib/env";
import { redisEnabled } from "@/lib/redis";

/** One integration, every integration of one user, or (no user: an admin changed a template) everyone's. */
export type IntegrationChange = { userId?: string; integrationId?: string };

const changed = clusterEvent<IntegrationChange>("integrations-changed", (v) => {
  const c = v as IntegrationChange | null;
  if (!c || typeof c !== "object") return undefined;
  const id = (x: unknown) => (typeof x === "string" && x.length <= 200 ? x : undefined);
  return { userId: id(c.userId), integrationId: c.userId ? id(c.integrationId) : undefined };
});

/** Announces a committed write (call it after the transaction, never inside one). */
export const integrationsChanged = (change: IntegrationChange) => changed.emit(change);

/** Registers a cache's listener; returns its unsubscribe function. */
export const onIntegrationsChanged = (listener: (change: IntegrationChange) => void) => changed.on(listener);

/** Whether a change covers this user's integration (integrationId undefined: any of theirs). */
export function covers(change: IntegrationChange, userId: string, integrationId?: string): boolean {
  if (change.userId === undefined) return true;
  if (change.userId !== userId) return false;
  return (
    change.integrationId === undefined ||
    integrationId === undefined ||
    change.integrationId === integrationId
  );
}

/** The lifetime of a cache built from integration rows (see above). */
export function rowCacheTtlMs(): number {
  return env().DATABASE_URL && !redisEnabled() ? 2_000 : 60_000;
}
