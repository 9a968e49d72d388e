// Resources, resource templates and prompts on /api/mcp (docs/agents.md): listed namespaced, read and got
// through the owner's integration, isolated between users, list_changed after a sync changes them — with a
// real SDK client in both eras against the in-process endpoint and a real fixture server.
import {
  Client,
  ProtocolError,
  StreamableHTTPClientTransport,
  type Prompt,
  type Resource,
} from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleAgentRequest, handleToolsetRequest } from "@/lib/agent/endpoint";
import { createToolset } from "@/lib/data/toolsets";
import { closeAll } from "@/lib/mcp/pool";
import { syncIntegration } from "@/lib/mcp/sync";
import { addIntegration, ENDPOINT, inProcessFetch, makeUserWithToken } from "./agent-helpers";
import { startListsServer, type ListsFixture } from "./fixtures/lists-server";
import { waitFor } from "./wait";

type Era = "auto" | "legacy";
const open: { close(): Promise<void> }[] = [];
let serverA: ListsFixture;
let serverB: ListsFixture;
let a: { userId: string; token: string; integrationId: string };
let b: { userId: string; token: string; integrationId: string };

/** Routes like Next.js would: /api/mcp to the whole endpoint, /api/mcp/<name> to the toolset route. */
const routedFetch = (input: string | URL | Request, init?: RequestInit) => {
  const req = new Request(input, init);
  const m = new URL(req.url).pathname.match(/^\/api\/mcp\/([^/]+)$/);
  if (!m) return handleAgentRequest(req);
  return handleToolsetRequest(req, { params: Promise.resolve({ toolset: decodeURIComponent(m[1]) }) });
};

async function connect(
  token: string,
  era: Era,
  seen?: { resources: string[][]; prompts: string[][] },
  endpoint = ENDPOINT,
): Promise<Client> {
  const client = new Client(
    { name: "lists-agent", version: "1.0.0" },
    {
      ...(era === "auto" ? { versionNegotiation: { mode: "auto" as const } } : {}),
      ...(seen && {
        listChanged: {
          resources: {
            debounceMs: 20,
            onChanged: (_e: Error | null, r: Resource[] | null) =>
              seen.resources.push((r ?? []).map((x) => x.uri)),
          },
          prompts: {
            debounceMs: 20,
            onChanged: (_e: Error | null, p: Prompt[] | null) =>
              seen.prompts.push((p ?? []).map((x) => x.name)),
          },
        },
      }),
    },
  );
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
    fetch: endpoint === ENDPOINT ? inProcessFetch : routedFetch,
    authProvider: { token: async () => token },
  });
  await client.connect(transport);
  open.push({
    close: async () => {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  });
  return client;
}

beforeAll(async () => {
  serverA = await startListsServer({
    initial: {
      resources: [{ uri: "file:///notes/a.txt", name: "a", mimeType: "text/plain" }],
      resourceTemplates: [{ uriTemplate: "file:///notes/{id}.txt", name: "note" }],
      prompts: [{ name: "summarize", arguments: [{ name: "topic", required: true }] }],
    },
  });
  serverB = await startListsServer({
    initial: { resources: [{ uri: "file:///b-only.txt", name: "b" }], prompts: [{ name: "b_prompt" }] },
  });
  const ua = await makeUserWithToken("lists-a");
  const ub = await makeUserWithToken("lists-b");
  a = {
    userId: ua.user.id,
    token: ua.token,
    integrationId: await addIntegration(ua.user.id, "Docs", serverA.url),
  };
  // The same integration name for B: the same slug, another user's server.
  b = {
    userId: ub.user.id,
    token: ub.token,
    integrationId: await addIntegration(ub.user.id, "Docs", serverB.url),
  };
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await closeAll();
  await serverA.close();
  await serverB.close();
});

describe.each(["auto", "legacy"] as const)("era %s", (era) => {
  it("advertises resources and prompts with listChanged and lists them namespaced", async () => {
    const client = await connect(a.token, era);
    const caps = client.getServerCapabilities();
    expect(caps?.resources).toMatchObject({ listChanged: true });
    expect(caps?.prompts).toMatchObject({ listChanged: true });
    const { resources } = await client.listResources();
    expect(resources).toEqual([
      { uri: "poke://docs/file:///notes/a.txt", name: "a", mimeType: "text/plain" },
    ]);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates).toEqual([{ uriTemplate: "poke://docs/file:///notes/{id}.txt", name: "note" }]);
    const { prompts } = await client.listPrompts();
    expect(prompts).toEqual([{ name: "docs__summarize", arguments: [{ name: "topic", required: true }] }]);
  });

  it("reads a resource (listed or from a template) and gets a prompt through the integration", async () => {
    const client = await connect(a.token, era);
    const read = await client.readResource({ uri: "poke://docs/file:///notes/42.txt" });
    expect(read.contents).toEqual([
      {
        uri: "poke://docs/file:///notes/42.txt",
        mimeType: "text/plain",
        text: "contents of file:///notes/42.txt",
      },
    ]);
    const got = await client.getPrompt({ name: "docs__summarize", arguments: { topic: "cats" } });
    expect(got.messages[0]?.content).toMatchObject({ text: 'summarize with {"topic":"cats"}' });
    await expect(client.readResource({ uri: "file:///notes/a.txt" })).rejects.toBeInstanceOf(ProtocolError);
    await expect(client.readResource({ uri: "poke://nope/file:///x" })).rejects.toBeInstanceOf(ProtocolError);
    await expect(client.getPrompt({ name: "docs__nope" })).rejects.toBeInstanceOf(ProtocolError);
  });

  it("a user's URIs and prompt names reach only that user's integration", async () => {
    const client = await connect(b.token, era);
    expect((await client.listResources()).resources.map((r) => r.uri)).toEqual([
      "poke://docs/file:///b-only.txt",
    ]);
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(["docs__b_prompt"]);
    const before = serverA.requests.length;
    const read = await client.readResource({ uri: "poke://docs/file:///notes/a.txt" });
    // Routed to B's own "Docs" (whose fixture echoes any URI), never to A's server.
    expect(read.contents[0]).toMatchObject({ text: "contents of file:///notes/a.txt" });
    await expect(client.getPrompt({ name: "docs__summarize" })).rejects.toBeInstanceOf(ProtocolError);
    expect(serverA.requests.length).toBe(before);
  });

  it("sends resources and prompts list_changed after a sync changes them", async () => {
    const fixture = await startListsServer({ initial: { prompts: [{ name: "one" }] } });
    open.push(fixture);
    const owner = await makeUserWithToken(`lists-push-${era}`);
    const id = await addIntegration(owner.user.id, "Pushy", fixture.url);
    const seen = { resources: [] as string[][], prompts: [] as string[][] };
    const client = await connect(owner.token, era, seen);
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(["pushy__one"]);
    fixture.set({ prompts: [{ name: "one" }, { name: "two" }], resources: [{ uri: "mem://x", name: "x" }] });
    // list_changed reaches only streams already open: the sync is repeated (with a change) until it arrived.
    let round = 0;
    await waitFor(
      async () => {
        if (
          seen.prompts.flat().includes("pushy__two") &&
          seen.resources.flat().includes("poke://pushy/mem://x")
        )
          return true;
        round++;
        fixture.set({ prompts: [{ name: "one" }, { name: "two", description: `round ${round}` }] });
        await syncIntegration(owner.user.id, id);
        return false;
      },
      { intervalMs: 300, what: "list_changed for resources and prompts" },
    );
  });
});

it("a toolset's endpoint offers tools only: no resources or prompts", async () => {
  const owner = await makeUserWithToken("lists-toolset");
  const integrationId = await addIntegration(owner.user.id, "Docs", serverA.url);
  await createToolset(owner.user, { name: "docs-tools", items: [{ integrationId }] });
  const client = await connect(owner.token, "auto", undefined, `${ENDPOINT}/docs-tools`);
  expect(client.getServerCapabilities()?.tools).toBeDefined();
  expect(client.getServerCapabilities()?.resources).toBeUndefined();
  expect(client.getServerCapabilities()?.prompts).toBeUndefined();
  expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["docs__echo"]);
  // The whole endpoint of the same user has them.
  const whole = await connect(owner.token, "auto");
  expect((await whole.listPrompts()).prompts.map((p) => p.name)).toEqual(["docs__summarize"]);
});
