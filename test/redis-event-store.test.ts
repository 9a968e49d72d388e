// The agent sessions' event store in Redis (lib/agent/event-store.ts) and its calls in flight, against the
// machine's Redis. Another instance is stood in for by writing what it would have written (its pending record,
// its announcement, its stream's events) from a second connection: a stream resumed here follows that
// instance's answers while it lives, and answers each call it left once it is gone — once, however many
// resumptions race; a client that never resumes gets those errors on its next event stream.
import net from "node:net";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORPHANED_CALL, receivingMessages, redisEventStore } from "@/lib/agent/event-store";
import { setEnvForProcess } from "@/lib/env";
import { closeRedis } from "@/lib/redis";
import { INSTANCE_ID } from "@/lib/tunnel/cluster";
import { keyUnder, redisConnections, redisRelay, TEST_REDIS_URL } from "./redis-helpers";
import { waitFor } from "./wait";

const redis = redisConnections();
const prefix = redis.prefix();
const key = keyUnder(prefix);
let other: Redis;
let listening: net.Server;
let liveUrl: string;
let deadUrl: string;

async function port(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  setEnvForProcess({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix });
  other = redis.connect();
  listening = net.createServer((s) => s.destroy());
  liveUrl = `http://127.0.0.1:${await port(listening)}`;
  // A port nothing listens on: connections are refused, as at a killed instance's address.
  const gone = net.createServer();
  deadUrl = `http://127.0.0.1:${await port(gone)}`;
  await new Promise((r) => gone.close(r));
});
afterAll(async () => {
  await closeRedis();
  setEnvForProcess({ REDIS_URL: undefined, REDIS_PREFIX: undefined });
  await new Promise((r) => listening.close(r));
  await redis.cleanup();
});

let n = 0;
/** A session whose stream `st` was opened by instance `instance` (at `url`) for the call with id 5. */
async function callElsewhere(instance: string, url: string, announced = true) {
  const session = `s${++n}`;
  const events = key("agent", "events", session, "st");
  const priming = await other.xadd(events, "*", "m", "{}");
  await other.hset(key("agent", "pending", session), "5", JSON.stringify({ stream: "st", instance, url }));
  if (announced) await other.set(key("instance", instance), url, "PX", 60_000);
  return {
    session,
    lastEventId: `${priming}@st`,
    store: redisEventStore(session, 60_000)!,
    /** What the other instance does when the call ends there. */
    answer: async (message: JSONRPCMessage) => {
      await other.xadd(events, "*", "m", JSON.stringify(message));
      await other.hdel(key("agent", "pending", session), "5");
    },
    pending: () => other.hgetall(key("agent", "pending", session)),
  };
}

function collector() {
  const sent: JSONRPCMessage[] = [];
  return { sent, send: async (_id: string, m: JSONRPCMessage) => void sent.push(m) };
}

const orphanError = { jsonrpc: "2.0", id: 5, error: ORPHANED_CALL };

describe("a resumed stream whose call another instance was serving", () => {
  it("follows that instance's answer while it lives", async () => {
    const c = await callElsewhere("other:alive", liveUrl);
    const out = collector();
    let done = false;
    const replay = c.store.replayEventsAfter(c.lastEventId, out).finally(() => (done = true));
    // Still following (the instance lives): nothing sent, and the record is there, until the answer comes.
    await waitFor(async () => Object.keys(await c.pending()).length === 1);
    expect(done).toBe(false);
    await c.answer({ jsonrpc: "2.0", id: 5, result: { content: [] } });
    expect(await replay).toBe("st");
    expect(out.sent).toEqual([{ jsonrpc: "2.0", id: 5, result: { content: [] } }]);
  });

  it("answers the call with an error once the instance refuses connections", async () => {
    const c = await callElsewhere("other:killed", deadUrl);
    const out = collector();
    expect(await c.store.replayEventsAfter(c.lastEventId, out)).toBe("st");
    expect(out.sent).toEqual([orphanError]);
    expect(await c.pending()).toEqual({});
    // The error is in the stream: a later resumption from the same point replays it.
    const again = collector();
    await c.store.replayEventsAfter(c.lastEventId, again);
    expect(again.sent).toEqual([orphanError]);
  });

  it("answers the call with an error once the instance stopped announcing itself", async () => {
    const c = await callElsewhere("other:silent", liveUrl, false);
    const out = collector();
    await c.store.replayEventsAfter(c.lastEventId, out);
    expect(out.sent).toEqual([orphanError]);
  });

  it("answers it once when several resumptions race", async () => {
    const c = await callElsewhere("other:raced", deadUrl);
    const outs = [collector(), collector(), collector()];
    const stores = [c.store, redisEventStore(c.session, 60_000)!, redisEventStore(c.session, 60_000)!];
    await Promise.all(stores.map((s, i) => s.replayEventsAfter(c.lastEventId, outs[i])));
    // Each resumption replays what is in the stream when it reads: the one error, never two.
    for (const o of outs) expect(o.sent.filter((m) => "error" in m).length).toBeLessThanOrEqual(1);
    const events = await other.xrange(key("agent", "events", c.session, "st"), "-", "+");
    expect(events.filter(([, f]) => f[1].includes('"error"'))).toHaveLength(1);
  });
});

describe("requests of a session", () => {
  const sse = (text: string) => new Response(text, { headers: { "content-type": "text/event-stream" } });

  it("are recorded in flight here as they arrive; a cancellation clears its request", async () => {
    const session = `s${++n}`;
    const body = [
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x" } },
      { jsonrpc: "2.0", id: "b", method: "ping" },
    ];
    await receivingMessages(session, body, async () => sse(""));
    const pending = await other.hgetall(key("agent", "pending", session));
    expect(Object.keys(pending).sort()).toEqual(['"b"', "1"]);
    expect(JSON.parse(pending["1"])).toMatchObject({ instance: INSTANCE_ID, stream: "" });
    const cancel = { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } };
    await receivingMessages(session, cancel, async () => new Response(null, { status: 202 }));
    expect(Object.keys(await other.hgetall(key("agent", "pending", session)))).toEqual(['"b"']);
  });

  it("a client that never resumed gets its dead instance's unanswered calls on its next event stream", async () => {
    const session = `s${++n}`;
    const pKey = key("agent", "pending", session);
    await other.hset(pKey, "9", JSON.stringify({ stream: "", instance: "other:dead", url: deadUrl }));
    await other.hset(pKey, "10", JSON.stringify({ stream: "", instance: "other:alive", url: liveUrl }));
    await other.set(key("instance", "other:alive"), liveUrl, "PX", 60_000);
    const res = await receivingMessages(session, { jsonrpc: "2.0", id: 11, method: "ping" }, async () =>
      sse('event: message\ndata: {"jsonrpc":"2.0","id":11,"result":{}}\n\n'),
    );
    const messages = (await res.text())
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)) as unknown);
    // The dead instance's call first, then the stream's own answer; the live instance's call is left to it.
    expect(messages).toEqual([
      { jsonrpc: "2.0", id: 9, error: ORPHANED_CALL },
      { jsonrpc: "2.0", id: 11, result: {} },
    ]);
    expect(Object.keys(await other.hgetall(pKey)).sort()).toEqual(["10", "11"]);
  });
});

describe("an orphan lookup slower than its 3 s wait", () => {
  let relay: Awaited<ReturnType<typeof redisRelay>>;
  beforeAll(async () => {
    relay = await redisRelay();
    await closeRedis();
    setEnvForProcess({ REDIS_URL: relay.url, REDIS_PREFIX: prefix });
  });
  afterAll(async () => {
    relay.release();
    await closeRedis();
    setEnvForProcess({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix });
    await relay.close();
  });

  /** One request of `session` answered on an event stream: the JSON-RPC messages that stream carries. */
  const ping = async (session: string, id: number) => {
    const res = await receivingMessages(
      session,
      { jsonrpc: "2.0", id, method: "ping" },
      async () =>
        new Response(`event: message\ndata: {"jsonrpc":"2.0","id":${id},"result":{}}\n\n`, {
          headers: { "content-type": "text/event-stream" },
        }),
    );
    return (await res.text())
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)) as { id: unknown; error?: unknown });
  };

  it("leaves a call it claims too late pending, and a later look answers it once", async () => {
    const session = `s${++n}`;
    const pKey = key("agent", "pending", session);
    await other.hset(pKey, "9", JSON.stringify({ stream: "", instance: "other:late", url: deadUrl }));
    await ping(`${session}-warm`, 1); // the app's connection through the relay is open
    // Redis stalls: the lookup gives up after 3 s and the stream carries only its own answer.
    relay.hold();
    expect(await ping(session, 11)).toEqual([{ jsonrpc: "2.0", id: 11, result: {} }]);
    // Redis answers: the lookup goes on and claims the dead instance's call after its caller stopped
    // waiting. That call must stay pending, so a later event stream of the session answers it.
    relay.release();
    let id = 12;
    const answered = await waitFor(
      async () => {
        const found = (await ping(session, id++)).filter((m) => m.id === 9);
        return found.length ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: "the late-claimed call's answer" },
    );
    expect(answered).toEqual([{ jsonrpc: "2.0", id: 9, error: ORPHANED_CALL }]);
    expect(await other.hexists(pKey, "9")).toBe(0);
  }, 40_000);
});
