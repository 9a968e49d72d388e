// Applies prisma/migrations/*/migration.sql in order, once each, on PGlite or PostgreSQL.
// Runs in the launcher before the app serves, under an advisory lock so several instances can start at once.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export type SqlRunner = {
  exec(sql: string): Promise<void>;
  rows<T>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
};

const MIGRATIONS_DIR = path.join(/*turbopackIgnore: true*/ process.cwd(), "prisma", "migrations");
const LOCK_ID = 727_001;

export function listMigrations(dir = MIGRATIONS_DIR): { name: string; sql: string; checksum: string }[] {
  return fs
    .readdirSync(/*turbopackIgnore: true*/ dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

export async function openRunner(opts: { databaseUrl?: string; pgliteDir?: string }): Promise<SqlRunner> {
  if (opts.databaseUrl) {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: opts.databaseUrl, connectionTimeoutMillis: 10_000 });
    await client.connect();
    return {
      exec: async (sql) => void (await client.query(sql)),
      rows: async (sql, params) => (await client.query(sql, params as unknown[])).rows,
      close: () => client.end(),
    };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const db = await PGlite.create(opts.pgliteDir!);
  return {
    exec: async (sql) => void (await db.exec(sql)),
    rows: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
    close: () => db.close(),
  };
}

/** Applies pending migrations; returns the names applied. Throws on a changed, already-applied migration. */
export async function migrate(runner: SqlRunner, dir = MIGRATIONS_DIR): Promise<string[]> {
  await runner.exec(`SELECT pg_advisory_lock(${LOCK_ID})`);
  try {
    await runner.exec(
      `CREATE TABLE IF NOT EXISTS "_poke_migrations" (name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Map(
      (
        await runner.rows<{ name: string; checksum: string }>(`SELECT name, checksum FROM "_poke_migrations"`)
      ).map((r) => [r.name, r.checksum]),
    );
    const applied: string[] = [];
    for (const m of listMigrations(dir)) {
      const prior = done.get(m.name);
      if (prior) {
        if (prior !== m.checksum) throw new Error(`Migration ${m.name} was changed after it was applied`);
        continue;
      }
      await runner.exec(`BEGIN`);
      try {
        await runner.exec(m.sql);
        await runner.rows(`INSERT INTO "_poke_migrations" (name, checksum) VALUES ($1, $2)`, [
          m.name,
          m.checksum,
        ]);
        await runner.exec(`COMMIT`);
      } catch (err) {
        await runner.exec(`ROLLBACK`);
        throw new Error(`Migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return applied;
  } finally {
    await runner.exec(`SELECT pg_advisory_unlock(${LOCK_ID})`);
  }
}

/** Names of migrations in the repository that the database has not applied. */
export async function pendingMigrations(rows: SqlRunner["rows"], dir = MIGRATIONS_DIR): Promise<string[]> {
  const done = new Set(
    (await rows<{ name: string }>(`SELECT name FROM "_poke_migrations"`).catch(() => [])).map((r) => r.name),
  );
  return listMigrations(dir)
    .map((m) => m.name)
    .filter((n) => !done.has(n));
}
