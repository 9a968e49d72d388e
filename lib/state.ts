// Process-wide state, in one place: every cache, pool, queue and hook of this process is registered here by
// name, and `shutdown` closes them all, in reverse order of registration. The registry itself is the one
// value kept on globalThis: server.ts and each Next.js bundle load their own copies of lib modules, and
// this is how they reach the same pool, the same tunnel sockets and the same caches.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

type Slot = { value: unknown; close?: () => unknown };
type Registry = { slots: Map<string, Slot> };

const registry: Registry = ((globalThis as Record<symbol, Registry | undefined>)[Symbol.for("poke.state")] ??=
  { slots: new Map() });

/**
 * The process's one `name` value, created on first use. `close` runs on shutdown (and in tests, through
 * `shutdown`): flush a queue, close sockets, clear timers.
 */
export function processState<T>(name: string, create: () => T, close?: (value: T) => unknown): T {
  let slot = registry.slots.get(name);
  if (!slot) {
    const value = create();
    slot = { value, close: close && (() => close(value)) };
    registry.slots.set(name, slot);
  }
  return slot.value as T;
}

/** Closes everything registered, newest first; one failing close does not keep the others from running. */
export async function shutdown(): Promise<void> {
  const slots = [...registry.slots.entries()].reverse();
  registry.slots.clear();
  for (const [name, slot] of slots) {
    try {
      await slot.close?.();
    } catch (err) {
      console.error(`poke: closing ${name} failed:`, err);
    }
  }
}

/**
 * A small map whose entries expire `ttlMs` after they were set, holding at most `max` (the oldest go first).
 * Expired entries are dropped when read or when room is needed.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();
  constructor(private readonly opts: { ttlMs: number; max: number }) {}

  get(key: K): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: K, value: V, ttlMs = this.opts.ttlMs): void {
    this.entries.delete(key); // re-inserted last: Map order is the eviction order
    if (this.entries.size >= this.opts.max) {
      const now = Date.now();
      for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
      for (const k of this.entries.keys()) {
        if (this.entries.size < this.opts.max) break;
        this.entries.delete(k);
      }
    }
    this.entries.set(key, { value, expires: Date.now() + ttlMs });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Drops every entry that matches (all of one user's, one integration's…). */
  deleteWhere(match: (key: K, value: V) => boolean): void {
    for (const [k, e] of this.entries) if (match(k, e.value)) this.entries.delete(k);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

/**
 * The app's WebSocket endpoint: server.ts offers every HTTP upgrade to the handler set here (by
 * lib/tunnel/server.ts, from inside the Next.js bundle); false means the request is not its own.
 */
export function upgrades(): { handle?: UpgradeHandler } {
  return processState("upgrades", () => ({}));
}
