// Migrations: the generator finds nothing to write on the committed tree, every migration applied to an empty
// database yields the schema prisma/schema.prisma describes, and migrations keep the data they reshape.
// Runs on the engine of the run (TEST_DB): fresh PGlite directories, or fresh PostgreSQL databases.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, inject, it } from "vitest";
import { listMigrations, migrate, openRunner, type SqlRunner } from "@/lib/migrate";
import { PG_ADMIN_URL } from "./global-setup";

const ROOT = process.cwd();
const MIGRATIONS = path.join(ROOT, "prisma", "migrations");
const kind = inject("dbKind");
const run = promisify(execFile);
// The Prisma CLI needs no database here; keep the test's own connection out of its environment.
const cliEnv = { ...process.env, DATABASE_URL: "", PRISMA_HIDE_UPDATE_MESSAGE: "1" };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An empty database of the run's engine, removed after the test. */
async function emptyDb(): Promise<SqlRunner> {
  if (kind === "postgres") {
    const name = `poke_mig_${process.pid}_${randomBytes(4).toString("hex")}`;
    const admin = await openRunner({ databaseUrl: PG_ADMIN_URL });
    await admin.exec(`CREATE DATABASE ${name}`);
    cleanups.push(async () => {
      await admin.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.close();
    });
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    const db = await openRunner({ databaseUrl: url.toString() });
    cleanups.push(() => db.close());
    return db;
  }
  const db = await openRunner({ pgliteDir: path.join(tempDir("poke-migrate-"), "pglite") });
  cleanups.push(() => db.close());
  return db;
}

/** The migrations folder up to (not including) `name`, as a separate directory. */
function migrationsBefore(name: string): string {
  const dir = tempDir("poke-migrations-");
  for (const m of listMigrations().filter((m) => m.name < name)) {
    fs.mkdirSync(path.join(dir, m.name));
    fs.writeFileSync(path.join(dir, m.name, "migration.sql"), m.sql);
  }
  return dir;
}

type Catalog = Record<string, string[]>;

/** What Prisma relies on in the public schema, each part sorted so column order and OIDs don't matter. */
async function dumpCatalog(db: SqlRunner): Promise<Catalog> {
  const parts: Record<string, string> = {
    tables: `SELECT c.relname AS x FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S') AND c.relname <> '_poke_migrations'`,
    columns: `SELECT concat_ws(' | ', table_name, column_name, data_type, udt_name, is_nullable,
                coalesce(column_default, '-'), coalesce(character_maximum_length::text, '-'),
                coalesce(numeric_precision::text, '-'), coalesce(datetime_precision::text, '-')) AS x
              FROM information_schema.columns
              WHERE table_schema = 'public' AND table_name <> '_poke_migrations'`,
    indexes: `SELECT concat_ws(' | ', tablename, indexname, indexdef) AS x FROM pg_indexes
              WHERE schemaname = 'public' AND tablename <> '_poke_migrations'`,
    constraints: `SELECT concat_ws(' | ', cl.relname, co.conname, co.contype::text, pg_get_constraintdef(co.oid)) AS x
                  FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
                  JOIN pg_namespace n ON n.oid = cl.relnamespace
                  WHERE n.nspname = 'public' AND cl.relname <> '_poke_migrations'`,
    enums: `SELECT t.typname || ' | ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS x
            FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
            JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' GROUP BY t.typname`,
  };
  const out: Catalog = {};
  for (const [part, sql] of Object.entries(parts)) {
    out[part] = (await db.rows<{ x: string }>(sql)).map((r) => r.x).sort();
  }
  return out;
}

/** Runs scripts/new-migration.mjs in `cwd`; its exit code and output. */
async function generator(cwd: string, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run("node", [path.join(ROOT, "scripts", "new-migration.mjs"), ...args], {
      cwd,
      env: cliEnv,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

/** A copy of the project's prisma/ and its config, with node_modules linked, for the generator to run in. */
function projectCopy(): string {
  const dir = tempDir("poke-gen-");
  fs.cpSync(path.join(ROOT, "prisma"), path.join(dir, "prisma"), { recursive: true });
  fs.copyFileSync(path.join(ROOT, "prisma.config.ts"), path.join(dir, "prisma.config.ts"));
  fs.copyFileSync(path.join(ROOT, "package.json"), path.join(dir, "package.json"));
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

describe("migration generator", () => {
  it("every migration folder has its schema snapshot", () => {
    const folders = fs.readdirSync(MIGRATIONS, { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(folders.length).toBeGreaterThan(0);
    for (const d of folders) {
      expect(fs.existsSync(path.join(MIGRATIONS, d.name, "migration.sql")), d.name).toBe(true);
      expect(fs.existsSync(path.join(MIGRATIONS, d.name, "schema.prisma")), d.name).toBe(true);
    }
  });

  it("finds nothing to write on the committed tree and creates no folder", { timeout: 120_000 }, async () => {
    const before = fs.readdirSync(MIGRATIONS);
    const { code, out } = await generator(ROOT, "--check");
    expect(out).toContain("nothing to write");
    expect(code).toBe(0);
    expect(fs.readdirSync(MIGRATIONS)).toEqual(before);
  });

  it("--check reports a schema change without writing it", { timeout: 120_000 }, async () => {
    const dir = projectCopy();
    const schema = path.join(dir, "prisma", "schema.prisma");
    fs.writeFileSync(schema, fs.readFileSync(schema, "utf8") + "\nmodel Probe {\n  id String @id\n}\n");
    const before = fs.readdirSync(path.join(dir, "prisma", "migrations"));
    const { code, out } = await generator(dir, "--check");
    expect(code).toBe(1);
    expect(out).toContain('CREATE TABLE "Probe"');
    expect(fs.readdirSync(path.join(dir, "prisma", "migrations"))).toEqual(before);
  });

  it("refuses to diff when a migration folder lacks its snapshot", { timeout: 120_000 }, async () => {
    const dir = projectCopy();
    const last = listMigrations().at(-1)!.name;
    fs.rmSync(path.join(dir, "prisma", "migrations", last, "schema.prisma"));
    const before = fs.readdirSync(path.join(dir, "prisma", "migrations"));
    const { code, out } = await generator(dir, "again");
    expect(code).toBe(2);
    expect(out).toContain(`no schema.prisma snapshot in prisma/migrations/${last}`);
    expect(fs.readdirSync(path.join(dir, "prisma", "migrations"))).toEqual(before);
  });
});

describe(`migrations on ${kind}`, () => {
  it(
    "applied to an empty database give the schema schema.prisma describes",
    { timeout: 180_000 },
    async () => {
      const { stdout: script } = await run(
        path.join(ROOT, "node_modules", ".bin", "prisma"),
        ["migrate", "diff", "--from-empty", "--to-schema-datamodel", "prisma/schema.prisma", "--script"],
        { cwd: ROOT, env: cliEnv },
      );
      expect(script).toContain('CREATE TABLE "Tool"');
      const reference = await emptyDb();
      await reference.exec(script);

      const migrated = await emptyDb();
      expect(await migrate(migrated)).toEqual(listMigrations().map((m) => m.name));

      const want = await dumpCatalog(reference);
      expect(want.columns).toContain("Tool | meta | text | text | YES | - | - | - | -");
      expect(await dumpCatalog(migrated)).toEqual(want);
      // Applying again changes nothing.
      expect(await migrate(migrated)).toEqual([]);
    },
  );

  it("keying Tool by (integrationId, name) keeps every stored tool", { timeout: 120_000 }, async () => {
    const db = await emptyDb();
    await migrate(db, migrationsBefore("20261122010000_tool_natural_key"));
    await db.exec(`
      INSERT INTO "User" ("id", "email", "updatedAt") VALUES ('u1', 'a@example.com', now());
      INSERT INTO "Integration" ("id", "userId", "name", "url", "updatedAt")
        VALUES ('i1', 'u1', 'One', 'https://example.com/mcp', now());
      INSERT INTO "Tool" ("id", "integrationId", "name", "inputSchema", "definitionHash", "enabled", "updatedAt")
        VALUES ('t1', 'i1', 'echo', '{"type":"object"}', 'h1', false, now()),
               ('t2', 'i1', 'add', '{"type":"object"}', 'h2', true, now());`);

    const applied = await migrate(db);
    expect(applied[0]).toBe("20261122010000_tool_natural_key");
    const tools = await db.rows<Record<string, unknown>>(`SELECT * FROM "Tool" ORDER BY "name"`);
    expect(tools.map((t) => [t.integrationId, t.name, t.enabled, t.definitionHash, "id" in t])).toEqual([
      ["i1", "add", true, "h2", false],
      ["i1", "echo", false, "h1", false],
    ]);
    // The pair is the key: a second "echo" in the same integration is refused.
    await expect(
      db.exec(
        `INSERT INTO "Tool" ("integrationId", "name", "inputSchema", "definitionHash", "updatedAt") VALUES ('i1', 'echo', '{}', 'x', now())`,
      ),
    ).rejects.toThrow(/duplicate key/);
  });

  it(
    "JSON columns become json, a tool definition's JSON text, and both keep the stored values",
    { timeout: 120_000 },
    async () => {
      const db = await emptyDb();
      await migrate(db, migrationsBefore("20261204084333_json_columns_tool_meta"));
      await db.exec(`
      INSERT INTO "User" ("id", "email", "updatedAt") VALUES ('u1', 'a@example.com', now());
      INSERT INTO "Integration" ("id", "userId", "name", "url", "capabilities", "updatedAt")
        VALUES ('i1', 'u1', 'One', 'https://example.com/mcp', '{"tools":{"listChanged":true}}', now());
      INSERT INTO "Tool" ("integrationId", "name", "inputSchema", "outputSchema", "definitionHash", "updatedAt")
        VALUES ('i1', 'echo', '{"type":"object","properties":{"b":{},"a":{}}}', NULL, 'h1', now());
      INSERT INTO "Recipe" ("id", "name", "updatedAt") VALUES ('r1', 'R', now());
      INSERT INTO "RecipeInstall" ("id", "recipeId", "userId", "progress", "updatedAt")
        VALUES ('ri1', 'r1', 'u1', '{"t1":"connected"}', now());`);

      await migrate(db);
      const [tool] = await db.rows<{ inputSchema: unknown; outputSchema: unknown; meta: unknown }>(
        `SELECT "inputSchema", "outputSchema", "meta" FROM "Tool"`,
      );
      // jsonb had sorted the keys; the text is that value's JSON.
      expect(tool).toEqual({
        inputSchema: '{"type": "object", "properties": {"a": {}, "b": {}}}',
        outputSchema: null,
        meta: null,
      });
      const [integration] = await db.rows<{ capabilities: unknown; syncNotice: unknown }>(
        `SELECT "capabilities", "syncNotice" FROM "Integration"`,
      );
      expect(integration).toEqual({ capabilities: { tools: { listChanged: true } }, syncNotice: null });
      // A tool definition's text keeps what it is given as given: key order, \u0000 and every digit included.
      await db.exec(`
      INSERT INTO "User" ("id", "email", "updatedAt") VALUES ('u2', 'b@example.com', now());
      INSERT INTO "RecipeInstall" ("id", "recipeId", "userId", "updatedAt") VALUES ('ri2', 'r1', 'u2', now());`);
      await db.exec(`UPDATE "Tool" SET "inputSchema" = '{"z":0.30000000000000004,"a":"\\u0000"}'`);
      const [text] = await db.rows<{ s: string }>(`SELECT "inputSchema" AS s FROM "Tool"`);
      expect(text.s).toBe('{"z":0.30000000000000004,"a":"\\u0000"}');
      const installs = await db.rows<{ id: string; progress: unknown }>(
        `SELECT "id", "progress" FROM "RecipeInstall" ORDER BY "id"`,
      );
      expect(installs).toEqual([
        { id: "ri1", progress: { t1: "connected" } },
        { id: "ri2", progress: {} },
      ]);
    },
  );
});
