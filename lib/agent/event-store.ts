// The event store of 2025-era agent sessions (lib/agent/legacy-sessions.ts) in Redis: every message a session's
// event streams carry is appended to a Redis stream, so a client that lost its stream — or its instance —
// resumes with Last-Event-ID on any instance (docs/deploy.md "Agent sessions"). One Redis stream per MCP
// stream, capped in length and expiring with the session; an event id is `<redis entry id>@<stream id>`.
import type { EventStore, JSONRPCMessage } from "@modelcontextprotocol/server";
import { redis, redisKey } from "@/lib/redis";

/** Events kept per stream: a client further behind than this re-initializes. */
const MAX_EVENTS = 1_000;

export function redisEventStore(sessionId: string, ttlMs: number): EventStore | undefined {
  const r = redis();
  if (!r) return undefined;
  const key = (streamId: string) => redisKey("agent", "events", sessionId, streamId);
  const parse = (eventId: string) => {
    const at = eventId.indexOf("@");
    return at > 0 ? { entry: eventId.slice(0, at), streamId: eventId.slice(at + 1) } : undefined;
  };
  return {
    async storeEvent(streamId, message) {
      const k = key(streamId);
      const [[, entry]] = (await r
        .multi()
        .xadd(k, "MAXLEN", "~", String(MAX_EVENTS), "*", "m", JSON.stringify(message))
        .pexpire(k, ttlMs)
        .exec()) as [[Error | null, string]];
      return `${entry}@${streamId}`;
    },
    async getStreamIdForEventId(eventId) {
      const p = parse(eventId);
      if (!p || !/^\d+-\d+$/.test(p.entry)) return undefined;
      return (await r.exists(key(p.streamId))) ? p.streamId : undefined;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const p = parse(lastEventId);
      if (!p) throw new Error("invalid event id");
      const entries = await r.xrange(key(p.streamId), `(${p.entry}`, "+");
      for (const [entry, fields] of entries) {
        const message = JSON.parse(fields[1]) as JSONRPCMessage;
        // The priming event (an empty message) only marks a position.
        if (message && Object.keys(message).length) await send(`${entry}@${p.streamId}`, message);
      }
      return p.streamId;
    },
  };
}
