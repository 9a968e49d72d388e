// The catalog write of a sync (lib/mcp/sync.ts): one driver transaction per changed catalog, on PGlite and
// PostgreSQL, and the driver beside Prisma (lib/db.ts).
import { Prisma } from "@prisma/client";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { closeDb, getDb, getDriver, isUniqueViolation } from "@/lib/db";
import { env } from "@/lib/env";
import { integrationRows } from "@/lib/mcp/integration";
import { syncIntegration } from "@/lib/mcp/sync";
import { listen, webHandler } from "./fixtures/http";
import { createMcpEndpoint } from "./fixtures/mcp-endpoint";
import type { FixtureTool } from "./fixtures/tools";
import { expectAppError } from "./app-error";

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
  return db.tool.findUniqueOrThrow({ where: { integrationId_name: { integrationId, name } } });
}

async function snapshot(integrationId: string) {
  const db = await getDb();
  const integration = await db.integration.findUniqueOrThrow({ where: { id: integrationId } });
  const tools = await db.tool.findMany({ where: { integrationId }, orderBy: { name: "asc" } });
  return { integration, tools };
}

const recent = (d: Date | null) => {
  expect(d).toBeInstanceOf(Date);
  expect(Math.abs(d!.getTime() - Date.now())).toBeLessThan(10_000);
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

    // Absent parts are SQL NULL (Prisma's DbNull), never a stored JSON null.
    const db = await getDb();
    const nulls = (outputSchema: typeof Prisma.DbNull | typeof Prisma.JsonNull) =>
      db.tool.findMany({
        where: { integrationId: id, outputSchema: { equals: outputSchema } },
        select: { name: true },
      });
    expect((await nulls(Prisma.DbNull)).map((t) => t.name)).toEqual(
      expect.arrayContaining(["alpha", "delta"]),
    );
    expect(await nulls(Prisma.JsonNull)).toEqual([]);

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
    // A row the sync does not know about takes the added tool's name: its insert violates (integrationId, name)
    // after its delete of gamma has run.
    const intruder = { integrationId: id, name: "delta", inputSchema: {}, definitionHash: "x" };
    srv.beforeNextList(() => db.tool.create({ data: intruder }));
    const err = await syncIntegration(userId, id).catch((e: unknown) => e);
    expect(isUniqueViolation(err)).toBe(true);

    const after = await snapshot(id);
    expect(after.integration).toEqual(before.integration);
    expect(after.tools.filter((t) => t.definitionHash !== "x")).toEqual(before.tools);
    expect(after.tools.map((t) => t.name)).toContain("gamma");

    // Next time through, with the intruder gone, the same change commits.
    await db.tool.deleteMany({ where: { integrationId: id, definitionHash: "x" } });
    expect(await syncIntegration(userId, id)).toMatchObject({ added: ["delta"], removed: ["gamma"] });
    expect((await snapshot(id)).integration.syncGeneration).toBe(before.integration.syncGeneration + 1);
  });

  it("stores times as UTC whatever the database session's time zone", async () => {
    // PostgreSQL: the database's default, for the pool's new sessions. PGlite: its one session.
    const setZone = async (zone: string | null) => {
      const driver = await getDriver();
      if (driver.kind === "pglite") return driver.query(zone ? `SET timezone = '${zone}'` : "RESET timezone");
      await driver.query(
        zone
          ? `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), '${zone}'); END $$`
          : `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET timezone', current_database()); END $$`,
      );
      await closeDb();
    };
    // UTC+14: a local wall time taken for UTC would be hours in the future.
    await setZone("Pacific/Kiritimati");
    try {
      const zone = await (await getDriver()).query<{ TimeZone: string }>("SHOW timezone");
      expect(zone.rows[0].TimeZone).toBe("Pacific/Kiritimati");

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

      // The engine's driver read of a row is Prisma's row, times included, whatever the process's zone too.
      const processZone = process.env.TZ;
      process.env.TZ = "America/Los_Angeles";
      try {
        expect(await integrationRows([id], [userId])).toEqual([last.integration]);
      } finally {
        if (processZone === undefined) delete process.env.TZ;
        else process.env.TZ = processZone;
      }
      expect(await integrationRows([id], ["someone-else"])).toEqual([]);
    } finally {
      await setZone(null);
    }
  });
});

describe("database handles", () => {
  it("closeDb closes the client and the driver; the next use reopens both", async () => {
    for (let i = 0; i < 3; i++) {
      const db = await getDb();
      const driver = await getDriver();
      expect(await db.user.count({ where: { id: userId } })).toBe(1);
      expect((await driver.query<{ one: number }>("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      await closeDb();
    }
  });

  it.runIf(inject("dbKind") === "postgres")(
    "on PostgreSQL, Prisma and the driver share one pool of 10 connections, and closeDb ends it",
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
        const driver = await getDriver();
        // Twice as much concurrent work as one pool holds, half through each.
        const work = Promise.all([
          ...Array.from({ length: 10 }, () => db.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.3)`),
          ...Array.from({ length: 10 }, () =>
            driver.transaction((q) => q("SELECT 1 AS one FROM pg_sleep(0.3)")),
          ),
        ]);
        let most = 0;
        for (let i = 0; i < 10; i++) {
          most = Math.max(most, await connections());
          await new Promise((r) => setTimeout(r, 50));
        }
        await work;
        expect(most).toBe(10);

        await closeDb();
        let left = await connections();
        for (let i = 0; i < 40 && left > 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
          left = await connections();
        }
        expect(left).toBe(0);
      } finally {
        await observer.end();
      }
    },
  );
});
