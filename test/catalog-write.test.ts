// The catalog write of a sync (lib/mcp/sync.ts, lib/data/catalog.ts): one Prisma transaction per changed
// catalog, on PGlite and PostgreSQL, and the database handle (lib/db.ts).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { closeDb, getDb } from "@/lib/db";
import { env } from "@/lib/env";
import { readCatalog, storedTool, writeSnapshot } from "@/lib/data/catalog";
import { syncIntegration } from "@/lib/mcp/sync";
import { listen, webHandler } from "./fixtures/http";
import { createMcpEndpoint } from "./fixtures/mcp-endpoint";
import type { FixtureTool } from "./fixtures/tools";
import { expectAppError } from "./app-error";
import { waitFor } from "./wait";

type Server = {
  url: string;
  add(definition: FixtureTool["definition"]): void;
  remove(name: string): void;
  /** Runs `fn` when the next tools/list arrives: after the sync read the catalog, before it writes. */
  beforeNextList(fn: () => Promise<unknown>): void;
  close(): Promise<void>;
};

const servers: Server[] = [];

/** The fixture MCP server (basic tools) with full control over tool definitions. */
async function startServer(): Promise<Server> {
  const endpoint = createMcpEndpoint({ tools: "basic" });
  let hook: (() => Promise<unknown>) | undefined;
  const listener = await listen(
    webHandler(async (req, { json }) => {
      if ((json as { method?: unknown } | undefined)?.method === "tools/list" && hook) {
        const run = hook;
        hook = undefined;
        await run();
      }
      return endpoint.fetch(req, { parsedBody: json });
    }),
  );
  const server: Server = {
    url: `${listener.origin}/mcp`,
    add: (definition) => endpoint.catalog.add({ definition, run: () => ({ content: [] }) }),
    remove: (name) => void endpoint.catalog.remove(name),
    beforeNextList: (fn) => void (hook = fn),
    close: async () => {
      await endpoint.close();
      await listener.close();
    },
  };
  servers.push(server);
  return server;
}

let userId: string;
let n = 0;
beforeAll(async () => {
  const db = await getDb();
  userId = (await db.user.create({ data: { email: `catalog-${Date.now()}@example.com` } })).id;
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function makeIntegration(url: string): Promise<string> {
  const db = await getDb();
  return (await db.integration.create({ data: { userId, name: `cat-${++n}`, url } })).id;
}

async function tool(integrationId: string, name: string) {
  const db = await getDb();
  return storedTool(
    await db.tool.findUniqueOrThrow({ where: { integrationId_name: { integrationId, name } } }),
  );
}

async function snapshot(integrationId: string) {
  const db = await getDb();
  const integration = await db.integration.findUniqueOrThrow({ where: { id: integrationId } });
  const tools = (await db.tool.findMany({ where: { integrationId }, orderBy: { name: "asc" } })).map(
    storedTool,
  );
  return { integration, tools };
}

/** A time written during this test: a time-zone slip would be hours off, a slow machine only seconds. */
const recent = (d: Date | null) => {
  expect(d).toBeInstanceOf(Date);
  expect(Math.abs(d!.getTime() - Date.now())).toBeLessThan(10 * 60_000);
};

const objectSchema = (properties: Record<string, { type: string }>) => ({
  type: "object" as const,
  properties,
});

describe("catalog write", () => {
  it("a re-sync deletes removed tools, inserts added ones and rewrites every column of changed ones", async () => {
    const srv = await startServer();
    srv.add({
      name: "alpha",
      title: "Alpha",
      description: "First version.",
      inputSchema: objectSchema({ x: { type: "string" } }),
      outputSchema: objectSchema({ y: { type: "number" } }),
      annotations: { readOnlyHint: true },
    });
    srv.add({ name: "beta", description: "Plain.", inputSchema: objectSchema({}) });
    srv.add({ name: "gamma", inputSchema: objectSchema({}) });
    const id = await makeIntegration(srv.url);
    const first = await syncIntegration(userId, id);
    expect(first.added).toEqual(expect.arrayContaining(["alpha", "beta", "gamma", "echo"]));
    const before = await snapshot(id);
    const alphaBefore = before.tools.find((t) => t.name === "alpha")!;
    expect(alphaBefore).toMatchObject({
      title: "Alpha",
      annotations: { readOnlyHint: true },
      changedAt: null,
    });

    // alpha loses its title, output schema and annotations; beta gains them; gamma goes; delta comes.
    srv.remove("alpha");
    srv.add({
      name: "alpha",
      description: "Second version.",
      inputSchema: objectSchema({ z: { type: "integer" } }),
    });
    srv.remove("beta");
    srv.add({
      name: "beta",
      title: "Beta",
      description: "Plain.",
      inputSchema: objectSchema({}),
      outputSchema: objectSchema({ ok: { type: "boolean" } }),
      annotations: { destructiveHint: true },
    });
    srv.remove("gamma");
    srv.add({ name: "delta", inputSchema: objectSchema({}) });
    const diff = await syncIntegration(userId, id);
    expect(diff).toMatchObject({ added: ["delta"], removed: ["gamma"], changed: ["alpha", "beta"] });

    const after = await snapshot(id);
    expect(after.tools.map((t) => t.name)).toEqual(
      before.tools
        .map((t) => t.name)
        .filter((name) => name !== "gamma")
        .concat("delta")
        .sort(),
    );
    expect(after.integration.syncGeneration).toBe(before.integration.syncGeneration + 1);

    const alpha = await tool(id, "alpha");
    expect(alpha).toMatchObject({
      title: null,
      description: "Second version.",
      inputSchema: objectSchema({ z: { type: "integer" } }),
      outputSchema: null,
      annotations: null,
      enabled: true,
    });
    expect(alpha.createdAt).toEqual(alphaBefore.createdAt); // updated in place
    recent(alpha.changedAt);
    expect(alpha.updatedAt).toEqual(alpha.changedAt);
    expect(alpha.definitionHash).not.toBe(alphaBefore.definitionHash);

    const beta = await tool(id, "beta");
    expect(beta).toMatchObject({
      title: "Beta",
      outputSchema: objectSchema({ ok: { type: "boolean" } }),
      annotations: { destructiveHint: true },
    });
    recent(beta.changedAt);

    // Absent parts are SQL NULL, never a stored JSON null.
    const db = await getDb();
    const absent = await db.tool.findMany({
      where: { integrationId: id, outputSchema: null },
      select: { name: true },
    });
    expect(absent.map((t) => t.name)).toEqual(expect.arrayContaining(["alpha", "delta"]));
    expect(await db.tool.count({ where: { integrationId: id, outputSchema: "null" } })).toBe(0);

    const delta = await tool(id, "delta");
    expect(delta).toMatchObject({
      title: null,
      description: null,
      annotations: null,
      changedAt: null,
      enabled: true,
    });
    recent(delta.createdAt);
    // Tools that did not change keep their row as it was.
    const echoBefore = before.tools.find((t) => t.name === "echo")!;
    expect(await tool(id, "echo")).toEqual(echoBefore);
  });

  it("a catalog another writer committed while the server was listed is read again and diffed anew", async () => {
    const srv = await startServer();
    const id = await makeIntegration(srv.url);
    await syncIntegration(userId, id);
    const db = await getDb();
    // Another process's sync: it dropped "echo" and moved the generation on after this sync read the catalog.
    srv.beforeNextList(() =>
      db.$transaction([
        db.tool.deleteMany({ where: { integrationId: id, name: "echo" } }),
        db.integration.update({ where: { id }, data: { syncGeneration: { increment: 1 } } }),
      ]),
    );
    // Compared with the catalog as read before the listing, nothing changed; with the stored one, echo is new.
    expect(await syncIntegration(userId, id)).toMatchObject({ added: ["echo"], removed: [], changed: [] });
    expect((await snapshot(id)).tools.map((t) => t.name)).toContain("echo");
  });

  it("a removal alone, an addition alone, a change alone each commit", async () => {
    const srv = await startServer();
    srv.add({ name: "gamma", inputSchema: objectSchema({}) });
    const id = await makeIntegration(srv.url);
    const { toolCount } = await syncIntegration(userId, id);
    srv.remove("gamma");
    expect(await syncIntegration(userId, id)).toEqual({
      added: [],
      removed: ["gamma"],
      changed: [],
      unchanged: toolCount - 1,
      toolCount: toolCount - 1,
    });
    expect((await snapshot(id)).tools.map((t) => t.name)).not.toContain("gamma");
    srv.add({ name: "gamma", inputSchema: objectSchema({}) });
    expect(await syncIntegration(userId, id)).toMatchObject({ added: ["gamma"], removed: [], changed: [] });
    srv.remove("gamma");
    srv.add({ name: "gamma", description: "now described", inputSchema: objectSchema({}) });
    expect(await syncIntegration(userId, id)).toMatchObject({ added: [], removed: [], changed: ["gamma"] });
    expect((await tool(id, "gamma")).description).toBe("now described");
  });

  it("text the database refuses: NUL in a name leaves that tool out with a notice, elsewhere it is stored", async () => {
    const srv = await startServer();
    srv.add({ name: "bad\u0000name", inputSchema: objectSchema({}) });
    srv.add({
      name: "nul-inside",
      title: "T\u0000",
      description: "before\u0000after",
      inputSchema: { type: "object", properties: { "k\u0000": { type: "string", description: "v\u0000" } } },
    });
    const id = await makeIntegration(srv.url);
    const diff = await syncIntegration(userId, id);
    expect(diff.added).toContain("nul-inside");
    expect(diff.added).not.toContain("bad\u0000name");
    const { integration, tools } = await snapshot(id);
    expect(integration.status).toBe("connected");
    expect(integration.syncNotice).toBe(
      'Left out 1 tool the database can\'t store as sent: "bad\uFFFDname" (its name contains a NUL character).',
    );
    expect(tools.find((t) => t.name === "nul-inside")).toMatchObject({
      title: "T\uFFFD",
      description: "before\uFFFDafter",
      inputSchema: { type: "object", properties: { "k\u0000": { type: "string", description: "v\u0000" } } },
    });
    // The next sync finds nothing changed; once the server drops the tool, the notice goes.
    expect(await syncIntegration(userId, id)).toMatchObject({ added: [], changed: [], removed: [] });
    srv.remove("bad\u0000name");
    await syncIntegration(userId, id);
    expect((await snapshot(id)).integration.syncNotice).toBeNull();
  });

  it("a write diffed against a generation another writer moved on from applies nothing", async () => {
    const srv = await startServer();
    const id = await makeIntegration(srv.url);
    await syncIntegration(userId, id);
    const before = await snapshot(id);
    const stored = (await readCatalog({ userId, integrationId: id }))!;
    const server = {
      name: "x",
      title: null,
      version: null,
      protocolVersion: null,
      era: null,
      transport: "streamable-http" as const,
      capabilities: null,
      instructions: null,
    };
    const stale = { userId, integrationId: id, generation: stored.generation - 1, server, refused: [] };
    expect(await writeSnapshot({ ...stale, added: [], changed: [], removed: ["echo"] })).toBe(false);
    expect(await writeSnapshot({ ...stale, added: [], changed: [], removed: [] })).toBe(false);
    // Nor does any write for another user's integration.
    const foreign = { ...stale, userId: "someone-else", generation: stored.generation };
    expect(await writeSnapshot({ ...foreign, added: [], changed: [], removed: ["echo"] })).toBe(false);
    expect(await snapshot(id)).toEqual(before);
  });

  it("an integration deleted while its server is listed is not found, and no tool is left behind", async () => {
    const srv = await startServer();
    const id = await makeIntegration(srv.url);
    const db = await getDb();
    srv.beforeNextList(() => db.integration.delete({ where: { id } }));
    await expectAppError(syncIntegration(userId, id), "not_found");
    expect(await db.tool.count({ where: { integrationId: id } })).toBe(0);
    // The database is usable afterwards (the transaction ended).
    const other = await makeIntegration(srv.url);
    expect((await syncIntegration(userId, other)).toolCount).toBeGreaterThan(3);
  });

  it("a statement failing mid-transaction rolls back: the previous snapshot stays as it was", async () => {
    const srv = await startServer();
    srv.add({ name: "gamma", inputSchema: objectSchema({}) });
    const id = await makeIntegration(srv.url);
    await syncIntegration(userId, id);
    const before = await snapshot(id);

    srv.remove("gamma");
    srv.add({ name: "delta", inputSchema: objectSchema({}) });
    const db = await getDb();
    // The database refuses the added tool's insert, which runs after the delete of gamma.
    await db.$executeRawUnsafe(`CREATE FUNCTION refuse_delta() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW."name" = 'delta' THEN RAISE EXCEPTION 'delta refused'; END IF; RETURN NEW; END $$`);
    await db.$executeRawUnsafe(
      `CREATE TRIGGER refuse_delta BEFORE INSERT ON "Tool" FOR EACH ROW EXECUTE FUNCTION refuse_delta()`,
    );
    await expect(syncIntegration(userId, id)).rejects.toThrow(/delta refused/);
    await db.$executeRawUnsafe(`DROP TRIGGER refuse_delta ON "Tool"`);

    const after = await snapshot(id);
    expect(after.integration).toEqual(before.integration);
    expect(after.tools).toEqual(before.tools);

    // Next time through, with the trigger gone, the same change commits.
    expect(await syncIntegration(userId, id)).toMatchObject({ added: ["delta"], removed: ["gamma"] });
    expect((await snapshot(id)).integration.syncGeneration).toBe(before.integration.syncGeneration + 1);
  });

  it("stores times as UTC whatever the database session's time zone", async () => {
    // PostgreSQL: the database's default, for the pool's new sessions. PGlite: its one session.
    const setZone = async (zone: string | null) => {
      const db = await getDb();
      if (inject("dbKind") === "pglite")
        return db.$executeRawUnsafe(zone ? `SET timezone = '${zone}'` : "RESET timezone");
      await db.$executeRawUnsafe(
        zone
          ? `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), '${zone}'); END $$`
          : `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET timezone', current_database()); END $$`,
      );
      await closeDb();
    };
    // UTC+14: a local wall time taken for UTC would be hours in the future.
    await setZone("Pacific/Kiritimati");
    try {
      const zone = await (await getDb()).$queryRawUnsafe<{ TimeZone: string }[]>("SHOW timezone");
      expect(zone[0].TimeZone).toBe("Pacific/Kiritimati");

      const srv = await startServer();
      const id = await makeIntegration(srv.url);
      await syncIntegration(userId, id); // insert path
      const first = await snapshot(id);
      recent(first.integration.lastSyncedAt);
      for (const t of first.tools) {
        recent(t.createdAt);
        recent(t.updatedAt);
      }

      srv.remove("echo");
      srv.add({ name: "echo", description: "Changed.", inputSchema: objectSchema({}) });
      await syncIntegration(userId, id); // update path
      recent((await tool(id, "echo")).changedAt);
      await syncIntegration(userId, id); // unchanged: the metadata update alone
      const last = await snapshot(id);
      recent(last.integration.lastSyncedAt);
      expect(last.integration.lastSyncedAt!.getTime()).toBeGreaterThanOrEqual(
        first.integration.lastSyncedAt!.getTime(),
      );
    } finally {
      await setZone(null);
    }
  });
});

describe("database handles", () => {
  it("closeDb closes the client; the next use reopens it", async () => {
    for (let i = 0; i < 3; i++) {
      const db = await getDb();
      expect(await db.user.count({ where: { id: userId } })).toBe(1);
      await closeDb();
    }
  });

  it.runIf(inject("dbKind") === "postgres")(
    "on PostgreSQL, Prisma's pool holds at most 10 connections, and closeDb ends it",
    async () => {
      const observer = new pg.Client({ connectionString: env().DATABASE_URL });
      await observer.connect();
      const connections = async () =>
        Number(
          (
            await observer.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
            )
          ).rows[0].n,
        );
      try {
        const db = await getDb();
        // Twice as much concurrent work as the pool holds, half of it in transactions.
        const work = Promise.all([
          ...Array.from({ length: 10 }, () => db.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.3)`),
          ...Array.from({ length: 10 }, () =>
            db.$transaction(async (tx) => tx.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.3)`),
          ),
        ]);
        await work;
        // Connections stay in the pool, idle, until it ends.
        expect(await connections()).toBe(10);

        await closeDb();
        await waitFor(async () => (await connections()) === 0, { what: "the pool's connections to end" });
      } finally {
        await observer.end();
      }
    },
  );
});
