import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listMigrations, migrate, openRunner, type SqlRunner } from "@/lib/migrate";

const MIGRATIONS = path.join(process.cwd(), "prisma", "migrations");

describe("migrations on a database with data", () => {
  const dirs: string[] = [];
  let runner: SqlRunner | undefined;
  afterEach(async () => {
    await runner?.close();
    runner = undefined;
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it("keying Tool by (integrationId, name) keeps every stored tool", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "poke-migrate-"));
    dirs.push(tmp);
    // The migrations before it, applied to a database that then holds a catalog.
    const before = path.join(tmp, "before");
    for (const m of listMigrations().filter((m) => m.name < "20261122010000_tool_natural_key")) {
      fs.mkdirSync(path.join(before, m.name), { recursive: true });
      fs.writeFileSync(path.join(before, m.name, "migration.sql"), m.sql);
    }
    runner = await openRunner({ pgliteDir: path.join(tmp, "pglite") });
    await migrate(runner, before);
    await runner.exec(`
      INSERT INTO "User" ("id", "email", "updatedAt") VALUES ('u1', 'a@example.com', now());
      INSERT INTO "Integration" ("id", "userId", "name", "url", "updatedAt")
        VALUES ('i1', 'u1', 'One', 'https://example.com/mcp', now());
      INSERT INTO "Tool" ("id", "integrationId", "name", "inputSchema", "definitionHash", "enabled", "updatedAt")
        VALUES ('t1', 'i1', 'echo', '{"type":"object"}', 'h1', false, now()),
               ('t2', 'i1', 'add', '{"type":"object"}', 'h2', true, now());`);

    expect(await migrate(runner, MIGRATIONS)).toEqual(["20261122010000_tool_natural_key"]);
    const tools = await runner.rows<Record<string, unknown>>(`SELECT * FROM "Tool" ORDER BY "name"`);
    expect(tools.map((t) => [t.integrationId, t.name, t.enabled, t.definitionHash, "id" in t])).toEqual([
      ["i1", "add", true, "h2", false],
      ["i1", "echo", false, "h1", false],
    ]);
    // The pair is the key: a second "echo" in the same integration is refused.
    await expect(
      runner.exec(
        `INSERT INTO "Tool" ("integrationId", "name", "inputSchema", "definitionHash", "updatedAt") VALUES ('i1', 'echo', '{}', 'x', now())`,
      ),
    ).rejects.toThrow(/duplicate key/);
  });
});
