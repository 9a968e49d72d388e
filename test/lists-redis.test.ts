// Resources and prompts list_changed across instances (docs/deploy.md): with REDIS_URL, a sync on another
// instance publishes "lists-changed", and an agent session here is told; this instance's own events go out
// once and are not delivered here twice; malformed messages are dropped.
import { Client, StreamableHTTPClientTransport, type Prompt } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeAgentEndpoint } from "@/lib/agent/endpoint";
import { emitListsChanged, onListsChanged, type ListsChange } from "@/lib/agent/events";
import { getDb } from "@/lib/db";
import { setEnvForProcess } from "@/lib/env";
import { closeAll } from "@/lib/mcp/pool";
import { closeRedis, instanceId } from "@/lib/redis";
import { addIntegration, ENDPOINT, inProcessFetch, makeUserWithToken } from "./agent-helpers";
import { startListsServer, type ListsFixture } from "./fixtures/lists-server";
import { redisConnections, TEST_REDIS_URL } from "./redis-helpers";
import { waitFor } from "./wait";

const redis = redisConnections();
const prefix = redis.prefix();
const channel = `${prefix}events:lists-changed`;
let fixture: ListsFixture;
let client: Client | undefined;

beforeAll(async () => {
  setEnvForProcess({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix });
  fixture = await startListsServer({ initial: { prompts: [{ name: "one" }] } });
});
afterAll(async () => {
  await client?.close().catch(() => {});
  await closeAgentEndpoint();
  await closeAll();
  await fixture.close();
  await closeRedis();
  await redis.cleanup();
});

it("lists-changed events cross instances once each way, and reach an agent session here", async () => {
  const other = redis.connect();
  const sub = redis.connect();
  const published: { from: string; event: unknown }[] = [];
  sub.on("message", (_ch: string, m: string) => {
    if (m.startsWith("{")) published.push(JSON.parse(m) as { from: string; event: unknown });
  });
  await sub.subscribe(channel);
  const here: ListsChange[] = [];
  const stop = onListsChanged((c) => here.push(c));
  await waitFor(
    async () => {
      await other.publish(
        channel,
        JSON.stringify({ from: "probe", event: { userId: "probe", kinds: ["prompts"] } }),
      );
      return here.some((c) => c.userId === "probe");
    },
    { intervalMs: 100, what: "this instance subscribed" },
  );
  emitListsChanged({ userId: "user-1", kinds: ["resources"] });
  await waitFor(() => published.some((m) => m.from === instanceId()), { what: "our event published" });
  await other.publish(channel, "not json");
  await other.publish(channel, JSON.stringify({ from: "other", event: { userId: "u", kinds: ["tools"] } }));
  await other.publish(
    channel,
    JSON.stringify({ from: "other", event: { userId: "marker", kinds: ["prompts"] } }),
  );
  await waitFor(() => here.some((c) => c.userId === "marker"), { what: "the marker" });
  expect(here.filter((c) => c.userId === "user-1")).toEqual([{ userId: "user-1", kinds: ["resources"] }]);
  expect(here.some((c) => c.userId === "u")).toBe(false);
  stop();

  // An agent session here (2025 era: its GET stream) hears another instance's sync.
  const { user, token } = await makeUserWithToken("lists-redis");
  const id = await addIntegration(user.id, "Remote", fixture.url);
  const seen: string[][] = [];
  client = new Client(
    { name: "lists-redis", version: "1.0.0" },
    {
      listChanged: {
        prompts: {
          debounceMs: 20,
          onChanged: (_e: Error | null, p: Prompt[] | null) => seen.push((p ?? []).map((x) => x.name)),
        },
      },
    },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(ENDPOINT), {
      fetch: inProcessFetch,
      authProvider: { token: async () => token },
    }),
  );
  expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(["remote__one"]);
  const db = await getDb();
  // The other instance's sync stored a new prompt (one shared database) and published; until the agent's
  // stream is open a notification goes nowhere, so it is published again until it arrives.
  await db.prompt.create({ data: { integrationId: id, name: "two", definitionHash: "x" } });
  await waitFor(
    async () => {
      if (seen.some((names) => names.includes("remote__two"))) return true;
      await other.publish(
        channel,
        JSON.stringify({ from: "instance-b", event: { userId: user.id, kinds: ["prompts"] } }),
      );
      return false;
    },
    { intervalMs: 300, what: "prompts list_changed from another instance" },
  );
});
