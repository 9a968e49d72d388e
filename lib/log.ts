// Structured logging: one JSON object per line ({ time, level, msg, requestId?, ...detail }). Never log secrets:
// pass ids and codes, not values. Lines written while serving a request carry its id, the one returned in
// the response's X-Request-Id header (server.ts assigns it; docs/deploy.md).
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { env } from "@/lib/env";
import { processState } from "@/lib/state";

const levels = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof levels;

/** Shared by server.ts and the Next.js bundles (each loads its own copy of this module). */
const context = processState("requestContext", () => new AsyncLocalStorage<{ requestId: string }>());

/** Runs `fn` (the handling of one request) with `requestId` attached to every log line it writes. */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return context.run({ requestId }, fn);
}

export function currentRequestId(): string | undefined {
  return context.getStore()?.requestId;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@-]{8,128}$/;

/**
 * The request's id: the one a trusted reverse proxy sent (X-Request-Id, when it looks like an id), else a new
 * one. A client can't choose the id that ends up in the logs unless it is a proxy we trust.
 */
export function requestIdFor(incoming: string | undefined, fromTrustedProxy: boolean): string {
  if (fromTrustedProxy && incoming && SANE_REQUEST_ID.test(incoming)) return incoming;
  return randomUUID();
}

function detailOf(extra: unknown): Record<string, unknown> | undefined {
  if (extra === undefined || extra === null) return undefined;
  if (extra instanceof Error)
    return { err: { name: extra.name, message: extra.message, stack: extra.stack } };
  if (typeof extra === "object" && !Array.isArray(extra)) return extra as Record<string, unknown>;
  return { detail: extra };
}

function emit(level: Level, msg: string, extra?: unknown) {
  let threshold: Level = "info";
  try {
    threshold = env().LOG_LEVEL;
  } catch {
    /* configuration not loaded yet */
  }
  if (levels[level] < levels[threshold]) return;
  const requestId = currentRequestId();
  let line: string;
  try {
    const head = { time: new Date().toISOString(), level, msg, ...(requestId ? { requestId } : {}) };
    // A detail never overrides the head's fields.
    line = JSON.stringify(Object.assign({}, head, detailOf(extra), head));
  } catch {
    // A detail that can't be serialized (a cycle, a BigInt) must not lose the line.
    line = JSON.stringify({ time: new Date().toISOString(), level, msg, requestId, detail: String(extra) });
  }
  (level === "error" ? console.error : level === "warn" ? console.warn : console.log)(line);
}

export const log = {
  debug: (m: string, x?: unknown) => emit("debug", m, x),
  info: (m: string, x?: unknown) => emit("info", m, x),
  warn: (m: string, x?: unknown) => emit("warn", m, x),
  error: (m: string, x?: unknown) => emit("error", m, x),
};
