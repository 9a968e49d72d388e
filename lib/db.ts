// The Prisma client: embedded PGlite under DATA_DIR by default, PostgreSQL when DATABASE_URL is set.
// One instance per process (PGlite is single-process: only the server process opens it). Beside it, the
// same database's driver (the PGlite instance, or the pg pool Prisma itself uses) where Prisma's per-statement
// cost dominates: multi-row writes (the catalog in lib/mcp/sync.ts, tool-call history) and the engine's reads
// before each sync and call (lib/mcp/integration.ts, lib/mcp/pool.ts).
import path from "node:path";
import { PrismaClient } from "@prisma/client";
import type { PGlite, Transaction as PGliteTransaction } from "@electric-sql/pglite";
import type { Pool, PoolClient } from "pg";
import { env } from "@/lib/env";
import { log } from "@/lib/log";

type PgAdapter = InstanceType<typeof import("@prisma/adapter-pg").PrismaPg>;

/** One statement with `$1`-style parameters. Errors are the driver's own (SQLSTATE in `code`). */
export type DriverQuery = <R = Record<string, unknown>>(
  sql: string,
  params?: unknown[],
) => Promise<{ rows: R[]; affected: number }>;

export type Driver = {
  kind: "pglite" | "pg";
  /** One statement outside any transaction. */
  query: DriverQuery;
  /**
   * `fn`'s statements in one transaction: committed if `fn` resolves, rolled back if it throws. `fn` must
   * use only `q`: on PGlite, any other statement (Prisma's included) waits for this transaction to end.
   */
  transaction<T>(fn: (q: DriverQuery) => Promise<T>): Promise<T>;
};

type Opened = { client: PrismaClient; driver: Driver; close: () => Promise<void> };
type Holder = { opened?: Opened };
const holder = ((globalThis as { __pokeDb?: Holder }).__pokeDb ??= {});

export function pgliteDir(): string {
  return path.resolve(env().DATA_DIR, "pglite");
}

/**
 * PostgreSQL: waiting for a pooled connection, and every statement (lock waits included), are bounded: a
 * stuck statement ends, and with it its transaction's locks.
 */
const CONNECT_TIMEOUT_MS = 30_000;
const STATEMENT_TIMEOUT_MS = 60_000;

async function open(): Promise<Opened> {
  const { DATABASE_URL } = env();
  if (DATABASE_URL) {
    const [{ default: pg }, { PrismaPg }] = await Promise.all([import("pg"), import("@prisma/adapter-pg")]);
    // One pool for Prisma and the driver, so the driver's transactions don't double the connections.
    const pool = new pg.Pool({
      connectionString: DATABASE_URL,
      max: 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
    });
    // An idle connection that fails is dropped by the pool; without a listener the process would crash.
    pool.on("error", (err) => log.warn("idle database connection failed", { err: String(err) }));
    const client = new PrismaClient({ adapter: new PrismaPg(pool) });
    return {
      client,
      driver: pgDriver(pool),
      close: async () => {
        await client.$disconnect();
        await pool.end();
      },
    };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const { PrismaPGlite } = await import("pglite-prisma-adapter");
  const pg = await PGlite.create(pgliteDir());
  // The adapter is typed against an older @prisma/driver-adapter-utils; it only uses sql + args, which match.
  const client = new PrismaClient({ adapter: new PrismaPGlite(pg) as unknown as PgAdapter });
  return {
    client,
    driver: pgliteDriver(pg),
    close: async () => {
      await client.$disconnect();
      await pg.close();
    },
  };
}

function pgliteDriver(pg: PGlite): Driver {
  const on =
    (c: PGlite | PGliteTransaction): DriverQuery =>
    async <R>(sql: string, params?: unknown[]) => {
      // Without parameters, the simple protocol: one exchange with the engine instead of two.
      const r = params?.length ? await c.query<R>(sql, params) : (await c.exec(sql)).at(-1);
      return { rows: (r?.rows ?? []) as R[], affected: r?.affectedRows ?? 0 };
    };
  // PGlite runs one transaction at a time, with its own lock (the one Prisma's adapter takes too): a long
  // transaction here stalls every request, so callers keep them to a few statements.
  return { kind: "pglite", query: on(pg), transaction: (fn) => pg.transaction((tx) => fn(on(tx))) };
}

function pgDriver(pool: Pool): Driver {
  const on =
    (c: Pool | PoolClient): DriverQuery =>
    async <R>(sql: string, params?: unknown[]) => {
      const r = await c.query(sql, params);
      return { rows: r.rows as R[], affected: r.rowCount ?? 0 };
    };
  return {
    kind: "pg",
    query: on(pool),
    async transaction(fn) {
      const conn = await pool.connect();
      // A connection that fails while checked out emits "error" (and fails its query); unheard, it would crash.
      const onError = (err: Error) =>
        log.warn("database connection failed in a transaction", { err: String(err) });
      conn.on("error", onError);
      let broken: Error | undefined;
      try {
        await conn.query("BEGIN");
        const result = await fn(on(conn));
        await conn.query("COMMIT");
        return result;
      } catch (err) {
        await conn.query("ROLLBACK").catch((e: Error) => (broken = e));
        throw err;
      } finally {
        conn.off("error", onError);
        // A connection that could not roll back is discarded instead of going back to the pool.
        conn.release(broken);
      }
    },
  };
}

let opening: Promise<Opened> | undefined;

async function opened(): Promise<Opened> {
  if (holder.opened) return holder.opened;
  opening ??= open().then(
    (o) => (holder.opened = o),
    (err: unknown) => {
      opening = undefined;
      throw err;
    },
  );
  return opening;
}

/** The shared Prisma client (created on first use). */
export async function getDb(): Promise<PrismaClient> {
  return (await opened()).client;
}

/** The shared client's driver: for multi-row writes Prisma would make in many statements. */
export async function getDriver(): Promise<Driver> {
  return (await opened()).driver;
}

export async function closeDb(): Promise<void> {
  const current = holder.opened ?? (await opening?.catch(() => undefined));
  holder.opened = undefined;
  opening = undefined;
  await current?.close();
}

/**
 * Rows as the JSON parameter of jsonb_to_recordset. A null field is left out: an absent key is SQL NULL,
 * where a JSON null would be stored in a jsonb column as the JSON value null. (Nulls inside a value, such as
 * a schema's, are kept.)
 */
export function recordset(rows: object[]): string {
  return JSON.stringify(
    rows.map((r) => {
      const row: Record<string, unknown> = {};
      for (const k in r) {
        const v = (r as Record<string, unknown>)[k];
        if (v !== null) row[k] = v;
      }
      return row;
    }),
  );
}

/** A unique-constraint violation, as reported by either adapter (PostgreSQL: P2002; PGlite: SQLSTATE 23505). */
export function isUniqueViolation(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const err = e as { code?: unknown; message?: unknown; cause?: { code?: unknown; originalCode?: unknown } };
  return (
    err.code === "P2002" ||
    err.code === "23505" ||
    err.cause?.code === "23505" ||
    err.cause?.originalCode === "23505" ||
    (typeof err.message === "string" && /duplicate key value violates unique constraint/.test(err.message))
  );
}
