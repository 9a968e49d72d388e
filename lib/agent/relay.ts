// Carries this process's agent events to the other instances and theirs to this one, over Redis pub/sub
// (docs/deploy.md); without REDIS_URL it does nothing. A message is {from, event}: an instance drops its own
// (it delivered them locally when they happened). Pub/sub is fire-and-forget: an instance that is
// disconnected when an event is published misses it, and its clients see the change on their next tools/list.
import { instanceId, publish, redisEnabled, redisKey, subscribe } from "@/lib/redis";
import { log } from "@/lib/log";
import { processState } from "@/lib/state";

export type Relay<T> = {
  /** Sends an event to the other instances (not delivered here again). */
  publish(event: T): void;
  /** Starts receiving the other instances' events (once per process; idempotent). */
  listen(): void;
};

/** The relay of one kind of event; `parse` checks what arrives (undefined: dropped). */
export function relayed<T>(
  name: string,
  deliver: (event: T) => void,
  parse: (value: unknown) => T | undefined,
): Relay<T> {
  const channel = () => redisKey("events", name);
  return {
    publish(event) {
      if (!redisEnabled()) return;
      publish(channel(), JSON.stringify({ from: instanceId(), event })).catch((err: unknown) =>
        log.warn("publishing an agent event failed", { name, err: String(err) }),
      );
    },
    listen() {
      if (!redisEnabled()) return;
      const onMessage = (message: string) => {
        let parsed: { from?: unknown; event?: unknown };
        try {
          parsed = JSON.parse(message) as typeof parsed;
        } catch {
          return;
        }
        if (parsed.from === instanceId()) return;
        const event = parse(parsed.event);
        if (event !== undefined) deliver(event);
      };
      processState(
        `agentRelay:${name}`,
        () => {
          const s: { stop?: () => Promise<void>; timer?: NodeJS.Timeout; closed: boolean } = {
            closed: false,
          };
          // Until Redis first answers, try again every few seconds (ioredis re-subscribes after reconnects).
          const attempt = () =>
            subscribe(channel(), onMessage).then(
              (stop) => (s.closed ? void stop() : (s.stop = stop)),
              (err: unknown) => {
                log.warn("subscribing to agent events failed; retrying", { name, err: String(err) });
                if (!s.closed) s.timer = setTimeout(attempt, 5_000).unref();
              },
            );
          void attempt();
          return s;
        },
        async (s) => {
          s.closed = true;
          clearTimeout(s.timer);
          await s.stop?.();
        },
      );
    },
  };
}

export type ClusterEvent<T> = {
  /** Delivers to this process's listeners at once, and sends to the other instances. */
  emit(event: T): void;
  /** Registers a listener for events from every instance; returns its unsubscribe function. */
  on(listener: (event: T) => void): () => void;
};

/**
 * One kind of event for the whole deployment: each listener receives every event once, wherever it was emitted.
 * A listener that throws is logged, and the others still receive the event (nor does the emitter fail).
 */
export function clusterEvent<T>(name: string, parse: (value: unknown) => T | undefined): ClusterEvent<T> {
  const listeners = processState(`events:${name}`, () => new Set<(event: T) => void>());
  const deliver = (event: T) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        log.error(`${name} listener failed`, err);
      }
    }
  };
  const relay = relayed(name, deliver, parse);
  return {
    emit(event) {
      deliver(event);
      relay.publish(event);
    },
    on(listener) {
      listeners.add(listener);
      relay.listen();
      return () => void listeners.delete(listener);
    },
  };
}
