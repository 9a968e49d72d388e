// "Integration rows changed": every write of the data layer to an integration or its tools announces it once
// committed, and the caches built from those rows (call plans, the agent endpoint's catalog) drop what it
// covers. With REDIS_URL the announcement also reaches every other instance (lib/agent/relay.ts).
//
// How long such a cache may live follows from who can miss a change: on the embedded database only this
// process writes, and with Redis every instance hears every change, so entries live a minute (a bound on a
// missed pub/sub message); several instances on PostgreSQL without Redis hear only their own writes, so there
// entries live two seconds (docs/deploy.md).
import { relayed } from "@/lib/agent/relay";
import { env } from "@/lib/env";
import { log } from "@/lib/log";
import { redisEnabled } from "@/lib/redis";
import { processState } from "@/lib/state";

/** One integration, every integration of one user, or (no user: an admin changed a template) everyone's. */
export type IntegrationChange = { userId?: string; integrationId?: string };
type Listener = (change: IntegrationChange) => void;

const listeners = processState("integrationChanges", () => new Set<Listener>());

function deliver(change: IntegrationChange): void {
  for (const listener of listeners) {
    try {
      listener(change);
    } catch (err) {
      log.error("integration-change listener failed", err);
    }
  }
}

const relay = relayed<IntegrationChange>("integrations-changed", deliver, (v) => {
  const c = v as IntegrationChange | null;
  if (!c || typeof c !== "object") return undefined;
  const id = (x: unknown) => (typeof x === "string" && x.length <= 200 ? x : undefined);
  return { userId: id(c.userId), integrationId: c.userId ? id(c.integrationId) : undefined };
});

/** Announces a committed write (call it after the transaction, never inside one). */
export function integrationsChanged(change: IntegrationChange): void {
  deliver(change);
  relay.publish(change);
}

/** Registers a cache's listener; returns its unsubscribe function. */
export function onIntegrationsChanged(listener: Listener): () => void {
  listeners.add(listener);
  relay.listen();
  return () => void listeners.delete(listener);
}

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
